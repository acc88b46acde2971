using System.Buffers;
using System.Text.Unicode;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// One JSON object per line: <c>{"type":"block",...}</c> for each block (thread, time in perf ns, first and last
/// instruction, count, how it ends), <c>"event"</c> for events and <c>"error"</c> for errors (with the file offset of
/// the trace byte). Addresses are hex strings, so no reader loses bits to doubles. Nothing is allocated per line.
/// </summary>
internal sealed class JsonFormatter(IBufferWriter<byte> output) : FlowFormatter(output)
{
    public override void Block(in PtBlock block)
    {
        PtInsn last = block.Last;
        string end = last.Class == PtInsnClass.Other ? "none" : BranchKinds.Of(last);
        Span<byte> span = Output.GetSpan(320);
        int n = Prefix(span, "block");
        Utf8.TryWrite(span[n..], $"\"ip\":\"0x{block.Ip:x}\",\"last\":\"0x{last.Ip:x}\",\"insns\":{block.InstructionCount},\"end\":\"{end}\"}}\n", out int m);
        Output.Advance(n + m);
    }

    /// <summary>{"type":"T","pid":P,"tid":T, and "time":N, when the trace has time.</summary>
    private int Prefix(Span<byte> span, string type)
    {
        Utf8.TryWrite(span, $"{{\"type\":\"{type}\",\"pid\":{Context.Pid},\"tid\":{Context.Tid},", out int n);
        if (!Context.HasTime) return n;
        Utf8.TryWrite(span[n..], $"\"time\":{Context.Time},", out int m);
        return n + m;
    }

    public override void Event(in PtEvent ev, long fileOffset)
    {
        if (ev.StatusUpdate) return;
        Span<byte> span = Output.GetSpan(640);
        int n = Prefix(span, "event");
        Utf8.TryWrite(span[n..], $"\"offset\":{fileOffset},\"event\":\"", out int m);
        n += m;
        if (!PtEventText.TryFormat(ev, span.Slice(n, 200), out m)) m = 0;
        n += m;
        span[n++] = (byte)'"';
        if (!ev.IpSuppressed)
        {
            Utf8.TryWrite(span[n..], $",\"ip\":\"0x{ev.Ip:x}\"", out m);
            n += m;
        }
        if (ev.Type is PtEventType.AsyncBranch or PtEventType.AsyncDisabled)
        {
            Utf8.TryWrite(span[n..], $",\"from\":\"0x{ev.From:x}\"", out m);
            n += m;
        }
        span[n++] = (byte)'}';
        span[n++] = (byte)'\n';
        Output.Advance(n);
    }

    public override void Error(PtFlowErrorKind kind, long fileOffset, ulong ip, PtFlowError error)
    {
        Span<byte> span = Output.GetSpan(512);
        int n = Prefix(span, "error");
        Utf8.TryWrite(span[n..],
            $"\"offset\":{fileOffset},\"ip\":\"0x{ip:x}\",\"sync\":{(kind == PtFlowErrorKind.Sync ? "true" : "false")},\"message\":\"{PtFlowErrors.Message(error)}\"}}\n",
            out int m);
        Output.Advance(n + m);
    }
}
