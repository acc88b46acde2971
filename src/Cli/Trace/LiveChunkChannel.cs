using System.Buffers;
using System.Threading.Channels;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// The queue between the drain (or the file writer) and the decoder: pooled chunks of a perf.data pipe stream,
/// bounded in bytes for trace. The side that posts never waits: a chunk of trace that would pass the bound is
/// dropped (counted, and the decoder sees the hole and resumes at the next PSB), so a slow decoder costs the
/// recording nothing. Sideband chunks always go through (they are small, and the decoder cannot place trace
/// without them). <see cref="Behind"/> tells the decoder to skip ahead rather than decode, with hysteresis.
/// </summary>
internal sealed class LiveChunkChannel
{
    private readonly Channel<Chunk> _channel = Channel.CreateUnbounded<Chunk>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = true,
        // The decoder thread waits synchronously: wake it from the posting thread, not through the thread pool.
        AllowSynchronousContinuations = true,
    });
    private long _queued;
    private bool _behind;

    public LiveChunkChannel(long maxQueuedBytes) => MaxQueuedBytes = maxQueuedBytes;

    public long MaxQueuedBytes { get; }
    public long QueuedBytes => Interlocked.Read(ref _queued);
    public long PeakQueuedBytes { get; private set; }
    public long DroppedBytes { get; private set; }
    public long DroppedChunks { get; private set; }
    public long PostedBytes { get; private set; }

    /// <summary>Rents a chunk buffer; give it to <see cref="Post"/>/<see cref="TryPost"/>, or back with <see cref="Return"/>.</summary>
    public static byte[] Rent(int length) => ArrayPool<byte>.Shared.Rent(length);
    public static void Return(byte[] buffer) => ArrayPool<byte>.Shared.Return(buffer);

    /// <summary>Queues a chunk that must arrive (sideband). The buffer belongs to the channel afterwards.</summary>
    public void Post(byte[] buffer, int length)
    {
        Account(length);
        if (!_channel.Writer.TryWrite(new Chunk(buffer, length))) Return(buffer);
    }

    /// <summary>Queues a chunk of trace if the bound allows; otherwise drops it. The buffer belongs to the channel either way.</summary>
    public bool TryPost(byte[] buffer, int length)
    {
        if (Interlocked.Read(ref _queued) + length > MaxQueuedBytes)
        {
            DroppedBytes += length;
            DroppedChunks++;
            Return(buffer);
            return false;
        }
        Post(buffer, length);
        return true;
    }

    private void Account(int length)
    {
        long now = Interlocked.Add(ref _queued, length);
        PostedBytes += length;
        if (now > PeakQueuedBytes) PeakQueuedBytes = now;
    }

    /// <summary>No more chunks: the reader sees the end once it has read what is queued.</summary>
    public void Complete() => _channel.Writer.TryComplete();

    /// <summary>
    /// More is queued than the decoder should try to decode: from three quarters of the bound until it is back
    /// under a quarter (decoder thread only).
    /// </summary>
    public bool Behind()
    {
        long q = QueuedBytes;
        if (_behind) _behind = q > MaxQueuedBytes / 4;
        else _behind = q > MaxQueuedBytes * 3 / 4;
        return _behind;
    }

    /// <summary>The queued chunks as one byte stream, for the perf.data reader on the decoder thread.</summary>
    public Stream OpenReader() => new ReaderStream(this);

    private readonly record struct Chunk(byte[] Buffer, int Length);

    private sealed class ReaderStream(LiveChunkChannel owner) : Stream
    {
        private Chunk _current;
        private int _position;
        private bool _ended;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty) return 0;
            while (_current.Buffer is null || _position == _current.Length)
            {
                Release();
                if (_ended) return 0;
                ChannelReader<Chunk> reader = owner._channel.Reader;
                if (reader.TryRead(out Chunk next))
                {
                    _current = next;
                    _position = 0;
                    continue;
                }
                if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) _ended = true;
            }
            int n = Math.Min(buffer.Length, _current.Length - _position);
            _current.Buffer.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        private void Release()
        {
            if (_current.Buffer is null) return;
            Interlocked.Add(ref owner._queued, -_current.Length);
            Return(_current.Buffer);
            _current = default;
        }

        protected override void Dispose(bool disposing)
        {
            Release();
            while (owner._channel.Reader.TryRead(out Chunk rest))
            {
                Interlocked.Add(ref owner._queued, -rest.Length);
                Return(rest.Buffer);
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
