using System.Buffers;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// A sliding window over a stream (file or pipe) between two absolute offsets: the reader asks for the next n
/// bytes, gets a span over a pooled buffer, and consumes them. Memory stays at one buffer however large the
/// input is; a record (at most 64 KiB) always fits.
/// </summary>
internal sealed class ByteWindow : IDisposable
{
    private const int BufferSize = 1 << 20;
    private readonly Stream _stream;
    private readonly long _end;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;   // first unconsumed byte in _buffer
    private int _count;   // valid bytes from _start
    private bool _eof;

    /// <param name="position">Absolute offset the stream is at now.</param>
    /// <param name="end">Absolute offset to stop at (long.MaxValue: until the stream ends).</param>
    public ByteWindow(Stream stream, long position, long end)
    {
        _stream = stream;
        Position = position;
        _end = end;
    }

    /// <summary>Absolute offset of the next unconsumed byte.</summary>
    public long Position { get; private set; }

    /// <summary>Makes at least <paramref name="n"/> bytes available; false when the input ends first.</summary>
    public bool Ensure(int n)
    {
        while (_count < n)
        {
            if (_eof) return false;
            if (_start + n > _buffer.Length)
            {
                // Slide the unconsumed tail to the front; grow only if a single request is larger than the buffer.
                byte[] target = n > _buffer.Length ? ArrayPool<byte>.Shared.Rent(n) : _buffer;
                Buffer.BlockCopy(_buffer, _start, target, 0, _count);
                if (!ReferenceEquals(target, _buffer)) { ArrayPool<byte>.Shared.Return(_buffer); _buffer = target; }
                _start = 0;
            }
            long limit = _end - (Position + _count);
            int room = _buffer.Length - _start - _count;
            int want = (int)Math.Min(room, Math.Max(0, limit));
            int got = want == 0 ? 0 : _stream.Read(_buffer, _start + _count, want);
            if (got == 0) { _eof = true; return _count >= n; }
            _count += got;
        }
        return true;
    }

    /// <summary>The available bytes (call <see cref="Ensure"/> first).</summary>
    public ReadOnlySpan<byte> Available => _buffer.AsSpan(_start, _count);

    public int AvailableCount => _count;

    public void Consume(int n)
    {
        _start += n;
        _count -= n;
        Position += n;
        if (_count == 0) _start = 0;
    }

    /// <summary>Skips <paramref name="n"/> bytes (an AUXTRACE payload) by seeking when possible; false if the input ends first.</summary>
    public bool Skip(long n)
    {
        if (n <= _count) { Consume((int)n); return true; }
        n -= _count;
        Position += _count;
        _start = 0; _count = 0;
        if (Position + n > _end) { _eof = true; return false; }
        if (_stream.CanSeek)
        {
            if (Position + n > _stream.Length) { _eof = true; return false; }
            _stream.Seek(n, SeekOrigin.Current);
            Position += n;
            return true;
        }
        while (n > 0)
        {
            int got = _stream.Read(_buffer, 0, (int)Math.Min(n, _buffer.Length));
            if (got == 0) { _eof = true; return false; }
            n -= got;
            Position += got;
        }
        return true;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
