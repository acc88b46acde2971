using System.Buffers;
using System.Buffers.Text;
using System.Text.Unicode;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// Writes the flow in ptxed's <c>--no-inst</c> text: one 16-digit hex address per instruction, events in brackets,
/// errors as <c>[offset, ip: error: message]</c>, <c>[end of trace]</c>. Same bytes as ptxed, so whole outputs
/// compare with its goldens. Formats straight into the writer's buffer: nothing is allocated per line.
/// </summary>
public struct PtxedTextSink(IBufferWriter<byte> output) : IPtFlowSink
{
    private static readonly byte[] HexDigits = "0123456789abcdef"u8.ToArray();

    /// <summary>Also print status updates (ptxed never does).</summary>
    public bool ShowStatusUpdates { get; init; }
    /// <summary>Print only events and errors.</summary>
    public bool EventsOnly { get; init; }

    public readonly void OnBlock(in PtBlock block)
    {
        if (EventsOnly) return;
        ReadOnlySpan<byte> lengths = block.InstructionLengths;
        ulong ip = block.Ip;
        int n = lengths.Length;
        int done = 0;
        while (done < n)
        {
            // Fill as many 17-byte lines as the buffer takes at once.
            Span<byte> span = output.GetSpan(17 * Math.Min(n - done, 256));
            int lines = Math.Min(n - done, span.Length / 17);
            for (int i = 0; i < lines; i++)
            {
                WriteHex16(span.Slice(i * 17, 16), ip);
                span[i * 17 + 16] = (byte)'\n';
                ip += lengths[done + i];
            }
            output.Advance(lines * 17);
            done += lines;
        }
    }

    // Two hex digits per byte value, little-endian in a ushort: one table load per byte of the address.
    private static readonly ushort[] HexPairs = BuildHexPairs();

    private static ushort[] BuildHexPairs()
    {
        var t = new ushort[256];
        for (int i = 0; i < 256; i++) t[i] = (ushort)(HexDigits[i >> 4] | (HexDigits[i & 0xf] << 8));
        return t;
    }

    private static void WriteHex16(Span<byte> dest, ulong value)
    {
        ref byte d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dest[..16]);
        ushort[] pairs = HexPairs;
        for (int i = 14; i >= 0; i -= 2)
        {
            System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref System.Runtime.CompilerServices.Unsafe.Add(ref d, i), pairs[(int)(value & 0xff)]);
            value >>= 8;
        }
    }

    public readonly void OnEvent(in PtEvent ev, long offset)
    {
        if (ev.StatusUpdate && !ShowStatusUpdates) return;
        Span<byte> span = output.GetSpan(256);
        span[0] = (byte)'[';
        if (!PtEventText.TryFormat(ev, span[1..^2], out int n)) n = 0;
        span[1 + n] = (byte)']';
        span[2 + n] = (byte)'\n';
        output.Advance(n + 3);
    }

    public readonly void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error)
    {
        Span<byte> span = output.GetSpan(256);
        string what = kind == PtFlowErrorKind.Sync ? "sync error" : "error";
        Utf8.TryWrite(span, $"[{offset:x}, {ip:x}: {what}: {PtFlowErrors.Message(error)}]\n", out int n);
        output.Advance(n);
    }

    public readonly void OnEndOfTrace()
    {
        if (EventsOnly) return;
        "[end of trace]\n"u8.CopyTo(output.GetSpan(16));
        output.Advance(15);
    }
}
