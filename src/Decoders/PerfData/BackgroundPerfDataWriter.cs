using System.Buffers;
using System.Collections.Concurrent;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Moves disk I/O off the thread that drains the rings. The producer copies whole records into a buffer rented
/// from the writer's pool (<see cref="RentBuffer"/>) and posts it; a dedicated thread writes it with a
/// <see cref="PerfDataWriter"/> (file or pipe layout alike), shows every record to the <see cref="IRecordObserver"/>s, and returns the buffer.
/// The queue is bounded (in chunks) and waits when full: back-pressure instead of unbounded memory, and the
/// kernel reports what the ring then loses (PERF_RECORD_LOST).
/// <para>
/// Lifecycle: <see cref="Post(RecordChunk)"/>... then <see cref="Complete"/> and <see cref="WaitForWriter"/> (after
/// which observers such as <see cref="BuildIdCollector"/> may be read), then <see cref="Finish"/>.
/// One producer thread.
/// </para>
/// </summary>
public sealed class BackgroundPerfDataWriter : IDisposable
{
    public const int DefaultCapacityInChunks = 64;
    /// <summary>Bytes that may wait for the disk at once: AUX drains are megabytes each, so chunks alone are no bound.</summary>
    public const long DefaultMaxQueuedBytes = 64L << 20;

    private readonly long _maxQueuedBytes;
    private readonly object _budgetGate = new();
    private long _queuedBytes;

    /// <summary>
    /// Chunk buffers come from the writer's own pool, sized to the queue: one thread rents and another returns,
    /// which ArrayPool.Shared's per-thread caches handle badly for multi-MiB AUX drains (they allocated anew).
    /// </summary>
    private readonly ArrayPool<byte> _pool;

    private readonly PerfDataWriter _writer;
    private readonly IRecordObserver[] _observers;
    // A blocking queue rather than a Channel: blocking on a Channel's ValueTask routes every wake-up through the
    // thread pool, whose workers spin (sched_yield) between chunks; at 10^5 records/s that cost more CPU than
    // the writing itself and starved the poll thread into ring overflows. Monitor-based waits do not.
    private readonly BlockingCollection<RecordChunk> _queue;
    private readonly Thread _thread;
    private bool _finished;

    public BackgroundPerfDataWriter(PerfDataWriter writer, IReadOnlyList<IRecordObserver> observers, int capacityInChunks = DefaultCapacityInChunks,
        long maxQueuedBytes = DefaultMaxQueuedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueuedBytes, 1);
        _maxQueuedBytes = maxQueuedBytes;
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(observers);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityInChunks, 1);
        _writer = writer;
        _observers = [.. observers];
        _pool = ArrayPool<byte>.Create(maxArrayLength: 64 << 20, maxArraysPerBucket: capacityInChunks + 2);
        _queue = new BlockingCollection<RecordChunk>(new ConcurrentQueue<RecordChunk>(), capacityInChunks);
        _thread = new Thread(Run) { IsBackground = true, Name = "perf.data writer" };
        _thread.Start();
    }

    public PerfDataWriter Writer => _writer;
    /// <summary>Chunks accepted so far (producer side).</summary>
    public long ChunksPosted { get; private set; }
    /// <summary>How many posts had to wait for the writer: non-zero means the disk is slower than the trace.</summary>
    public long PostsThatWaited { get; private set; }
    /// <summary>An unexpected failure on the writer thread (not a write error, see <see cref="PerfDataWriter.WriteError"/>).</summary>
    public Exception? WriterThreadError { get; private set; }
    /// <summary>The first exception an observer threw; observers are not called after it.</summary>
    public Exception? ObserverError { get; private set; }
    /// <summary>Chunks whose bytes did not parse as whole records (observers saw the records before the bad one).</summary>
    public long MalformedChunks { get; private set; }

    /// <summary>Rents a buffer for a chunk from the writer's pool; post it, or give it back with <see cref="ReturnBuffer"/>.</summary>
    public byte[] RentBuffer(int minimumLength) => _pool.Rent(minimumLength);

    public void ReturnBuffer(byte[] buffer) => _pool.Return(buffer);

    /// <summary>Bytes posted and not yet written.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>
    /// Takes room for <paramref name="length"/> bytes in the byte budget, waiting for the writer if asked. A chunk
    /// larger than the whole budget still goes through when nothing else is queued, so nothing can wait forever.
    /// </summary>
    private bool Reserve(int length, bool wait)
    {
        lock (_budgetGate)
        {
            while (_queuedBytes > 0 && _queuedBytes + length > _maxQueuedBytes)
            {
                if (!wait) return false;
                Monitor.Wait(_budgetGate);
            }
            _queuedBytes += length;
            return true;
        }
    }

    private void Unreserve(int length)
    {
        lock (_budgetGate)
        {
            _queuedBytes -= length;
            Monitor.PulseAll(_budgetGate);
        }
    }

    /// <summary>Queues a chunk if there is room (in chunks and in bytes); on false the caller still owns the buffer.</summary>
    public bool TryPost(RecordChunk chunk)
    {
        Validate(chunk);
        if (!Reserve(chunk.Length, wait: false)) return false;
        try
        {
            if (!_queue.TryAdd(chunk))
            {
                Unreserve(chunk.Length);
                return false;
            }
        }
        catch (InvalidOperationException)
        {
            Unreserve(chunk.Length);
            return false;   // completed: the caller keeps the buffer
        }
        ChunksPosted++;
        return true;
    }

    /// <summary>Queues a chunk, waiting while the queue is full. The buffer belongs to the writer afterwards,
    /// also when this throws (the writer was completed).</summary>
    public void Post(RecordChunk chunk)
    {
        Validate(chunk);
        bool waited = !Reserve(chunk.Length, wait: false) && Reserve(chunk.Length, wait: true);
        try
        {
            if (!_queue.TryAdd(chunk))
            {
                _queue.Add(chunk);
                waited = true;
            }
        }
        catch (InvalidOperationException)
        {
            Unreserve(chunk.Length);
            _pool.Return(chunk.Buffer);
            throw new InvalidOperationException("The writer is completed; no more records can be posted.");
        }
        if (waited) PostsThatWaited++;
        ChunksPosted++;
    }

    /// <summary>Async form of <see cref="Post(RecordChunk)"/>, same ownership rules.</summary>
    public async ValueTask PostAsync(RecordChunk chunk, CancellationToken cancellationToken = default)
    {
        Validate(chunk);
        if (TryPost(chunk))
            return;
        try
        {
            // Full: wait off the caller's thread. Once started, Post owns the buffer (also when it throws because
            // the writer completed); the token can only stop it from starting.
            await Task.Run(() => Post(chunk), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _pool.Return(chunk.Buffer);
            throw;
        }
    }

    /// <summary>
    /// Copies whole records into a pooled buffer and posts it (waiting if the queue is full). Two spans because
    /// a drained ring region may wrap the ring's end.
    /// </summary>
    public void Post(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second = default)
    {
        int length = first.Length + second.Length;
        if (length == 0)
            return;
        byte[] buffer = _pool.Rent(length);
        first.CopyTo(buffer);
        second.CopyTo(buffer.AsSpan(first.Length));
        Post(new RecordChunk(buffer, length));
    }

    /// <summary>No more posts. Returns at once; the writer thread drains what is queued.</summary>
    public void Complete() => _queue.CompleteAdding();

    /// <summary>Completes and waits until every queued chunk is written and observed.</summary>
    public void WaitForWriter()
    {
        Complete();
        _thread.Join();
    }

    /// <summary>Drains the queue, then ends the output (<see cref="PerfDataWriter.Finish"/>: features and the final header
    /// of a file, the closing build-id records of a pipe).</summary>
    public void Finish(PerfDataFeatures features)
    {
        WaitForWriter();
        if (_finished)
            throw new InvalidOperationException("Already finished.");
        _finished = true;
        _writer.Finish(features);
        if (WriterThreadError is { } error)
            throw new InvalidOperationException("The perf.data writer thread failed; the file holds the records written before.", error);
    }

    /// <summary>Stops the writer thread without finishing the output (a file's header then says data size 0).</summary>
    public void Dispose() => WaitForWriter();

    private static void Validate(RecordChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk.Buffer, nameof(chunk));
        if ((uint)chunk.Length > (uint)chunk.Buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(chunk), "Length is outside the buffer.");
    }

    private void Run()
    {
        foreach (RecordChunk chunk in _queue.GetConsumingEnumerable())
        {
            try
            {
                if (WriterThreadError is null)
                {
                    _writer.WriteData(chunk.Span);
                    Observe(chunk.Span);
                }
            }
            catch (Exception e)
            {
                // Keep draining (and returning buffers) so the producer never blocks on a dead writer.
                WriterThreadError = e;
            }
            finally
            {
                _pool.Return(chunk.Buffer);
                Unreserve(chunk.Length);
            }
        }
    }

    private void Observe(ReadOnlySpan<byte> records)
    {
        if (_observers.Length == 0 || ObserverError is not null)
            return;
        int position = 0;
        try
        {
            while (RecordWalker.TryNext(records, ref position, out PerfEventHeader header, out ReadOnlySpan<byte> record))
            {
                foreach (IRecordObserver observer in _observers)
                    observer.OnRecord(header, record);
            }
        }
        catch (Exception e)
        {
            ObserverError = e;
            return;
        }
        if (position != records.Length)
            MalformedChunks++;
    }
}
