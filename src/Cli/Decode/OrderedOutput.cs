using System.Buffers;
using System.Collections.Concurrent;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// Runs independent pieces of work (streams) on several threads and writes their output in piece order: piece 0
/// goes to the output as it is produced, later pieces are buffered in 64 KiB chunks until their turn. Pieces start
/// in order, so the one being written is always running; a piece that gets too far ahead waits (bounded buffers).
/// </summary>
internal static class OrderedOutput
{
    private const int ChunkSize = 64 << 10;
    private const int MaxChunksAhead = 256;

    /// <summary>Calls <paramref name="work"/> for each piece with a writer for its output; output goes to <paramref name="output"/> in order.</summary>
    public static void Run(StreamBufferWriter output, int count, int jobs, Action<int, IBufferWriter<byte>> work)
    {
        if (count <= 1 || jobs <= 1)
        {
            for (int i = 0; i < count; i++) work(i, output);
            return;
        }
        var queues = new BlockingCollection<(byte[] Buffer, int Length)>[count];
        for (int i = 0; i < count; i++) queues[i] = new BlockingCollection<(byte[], int)>(MaxChunksAhead);
        int next = -1;
        var failures = new ConcurrentQueue<Exception>();
        var threads = new Thread[Math.Min(jobs, count)];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    var writer = new ChunkWriter(queues[i]);
                    try { work(i, writer); }
                    catch (Exception e) { failures.Enqueue(e); }
                    finally { writer.Complete(); }
                }
            }) { IsBackground = true, Name = $"decode-{t}" };
            threads[t].Start();
        }
        for (int i = 0; i < count; i++)
        {
            foreach (var (buffer, length) in queues[i].GetConsumingEnumerable())
            {
                output.WriteBytes(buffer.AsSpan(0, length));
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        foreach (Thread t in threads) t.Join();
        if (!failures.IsEmpty) throw new AggregateException(failures);
    }

    private sealed class ChunkWriter(BlockingCollection<(byte[], int)> queue) : IBufferWriter<byte>
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        private int _used;

        public void Advance(int count) => _used += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsMemory(_used);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsSpan(_used);
        }

        private void Reserve(int sizeHint)
        {
            if (_buffer.Length - _used >= Math.Max(sizeHint, 512)) return;
            Flush();
            if (_buffer.Length < sizeHint)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = ArrayPool<byte>.Shared.Rent(sizeHint);
            }
        }

        private void Flush()
        {
            if (_used == 0) return;
            queue.Add((_buffer, _used));
            _buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
            _used = 0;
        }

        public void Complete()
        {
            Flush();
            ArrayPool<byte>.Shared.Return(_buffer);
            queue.CompleteAdding();
        }
    }
}
