using System.Buffers;
using ZstdSharp.Unsafe;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// The decompressed side of COMPRESSED/COMPRESSED2 records. perf compresses with one zstd stream for the whole
/// session, and a record may end in one compressed chunk and continue in the next, so undecoded bytes are kept
/// between chunks and the zstd context lives as long as the file.
/// </summary>
internal sealed unsafe class ZstdRecordStream : IDisposable
{
    private ZSTD_DCtx_s* _ctx;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
    private int _start;
    private int _count;

    public ZstdRecordStream()
    {
        _ctx = Methods.ZSTD_createDStream();
        Methods.ZSTD_initDStream(_ctx);
    }

    /// <summary>Total bytes produced so far: the decompressed-stream offset of the next byte appended.</summary>
    public long ProducedOffset { get; private set; }
    /// <summary>Decompressed-stream offset of <see cref="Pending"/>'s first byte.</summary>
    public long PendingOffset => ProducedOffset - _count;
    public ReadOnlySpan<byte> Pending => _buffer.AsSpan(_start, _count);
    public int PendingCount => _count;

    public void Consume(int n) { _start += n; _count -= n; if (_count == 0) _start = 0; }

    /// <summary>Decompresses one chunk and appends its output; returns an error message or null.</summary>
    public string? Append(ReadOnlySpan<byte> compressed)
    {
        if (_start > 0 && _count > 0) Buffer.BlockCopy(_buffer, _start, _buffer, 0, _count);
        _start = 0;
        fixed (byte* src = compressed)
        {
            var input = new ZSTD_inBuffer_s { src = src, size = (nuint)compressed.Length, pos = 0 };
            while (true)
            {
                if (_buffer.Length - _count < 64 * 1024) Grow();
                fixed (byte* dst = _buffer)
                {
                    var output = new ZSTD_outBuffer_s { dst = dst + _count, size = (nuint)(_buffer.Length - _count), pos = 0 };
                    nuint rc = Methods.ZSTD_decompressStream(_ctx, &output, &input);
                    if (Methods.ZSTD_isError(rc))
                        return "zstd: " + new string(Methods.ZSTD_getErrorName(rc));
                    _count += (int)output.pos;
                    ProducedOffset += (long)output.pos;
                    // Done when all input is used and zstd did not fill the output (it may still hold data otherwise).
                    if (input.pos == input.size && output.pos < output.size) return null;
                }
            }
        }
    }

    private void Grow()
    {
        // A chunk decompresses to at most perf's mmap size; doubling is bounded by that, not by the file.
        if (_buffer.Length >= 1 << 28) throw new InvalidDataException("decompressed chunk larger than 256 MiB");
        byte[] bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
        Buffer.BlockCopy(_buffer, _start, bigger, 0, _count);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
        _start = 0;
    }

    public void Dispose()
    {
        if (_ctx != null) { Methods.ZSTD_freeDStream(_ctx); _ctx = null; }
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
