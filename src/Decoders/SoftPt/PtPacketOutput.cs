using System.Buffers;
using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>
/// Packets out to the caller's sink through one reusable buffer: keeps the last IP (for IP compression, as the
/// decoders reconstruct it), the byte offset (for the PSB period) and the per-kind packet counts.
/// </summary>
internal sealed class PtPacketOutput
{
    private const int BufferSize = 64 * 1024;

    private readonly byte[] _buffer = new byte[BufferSize];
    private int _pos;
    private long _flushed;
    private PtLastIp _lastIp;
    private IBufferWriter<byte>? _writer;
    private Stream? _stream;
    private SoftPtStatistics _stats = null!;

    public void Begin(IBufferWriter<byte>? writer, Stream? stream, SoftPtStatistics stats)
    {
        _writer = writer;
        _stream = stream;
        _stats = stats;
        _pos = 0;
        _flushed = 0;
        _lastIp = default;
    }

    /// <summary>Bytes written since <see cref="Begin"/>.</summary>
    public long Offset => _flushed + _pos;

    public void Write(in PtPacket packet)
    {
        if (_buffer.Length - _pos < PtPacketEncoder.MaxPacketSize) Flush();
        int n = PtPacketEncoder.Encode(packet, _buffer.AsSpan(_pos));
        if (n <= 0) throw new InvalidOperationException($"internal error: cannot encode {packet}");
        _pos += n;
        _lastIp.Update(packet);
        _stats.CountPacket(packet.Kind);
    }

    /// <summary>An IP packet compressed against the last IP the way hardware does (the shortest IPBytes that works).</summary>
    public void WriteIp(PtPacketKind kind, ulong ip) =>
        Write(PtPacket.CreateIp(kind, PtIp.Shortest(ip, _lastIp), ip));

    /// <summary>An IP packet with IPBytes 0 (the IP is out of context, e.g. a kernel address under user-only tracing).</summary>
    public void WriteSuppressed(PtPacketKind kind) => Write(PtPacket.CreateIp(kind, PtIpCompression.Suppressed, 0));

    /// <summary>A PSB resets the last IP of the processor and of every decoder.</summary>
    public void ResetLastIp() => _lastIp.Reset();

    public void Flush()
    {
        if (_pos == 0) return;
        var bytes = _buffer.AsSpan(0, _pos);
        if (_writer != null) _writer.Write(bytes);
        else _stream!.Write(bytes);
        _flushed += _pos;
        _pos = 0;
    }

    public void End()
    {
        Flush();
        _writer = null;
        _stream = null;
    }
}
