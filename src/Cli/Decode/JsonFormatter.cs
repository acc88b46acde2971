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
        n += Text(span[n..], "\"ip\":\"0x"u8);
        n += Hex(span[n..], block.Ip);
        n += Text(span[n..], "\",\"last\":\"0x"u8);
        n += Hex(span[n..], last.Ip);
        n += Text(span[n..], "\",\"insns\":"u8);
        n += Decimal(span[n..], (long)block.InstructionCount);
        n += Text(span[n..], ",\"end\":\""u8);
        n += Text(span[n..], end);
        n += Text(span[n..], "\"}\n"u8);
        Output.Advance(n);
    }

    /// <summary>{"type":"T","pid":P,"tid":T, and "time":N, when the trace has time.</summary>
    private int Prefix(Span<byte> span, string type)
    {
        int n = Text(span, "{\"type\":\""u8);
        n += Text(span[n..], type);
        n += Text(span[n..], "\",\"pid\":"u8);
        n += Decimal(span[n..], (long)Context.Pid);
        n += Text(span[n..], ",\"tid\":"u8);
        n += Decimal(span[n..], (long)Context.Tid);
        span[n++] = (byte)',';
        if (!Context.HasTime) return n;
        n += Text(span[n..], "\"time\":"u8);
        n += Decimal(span[n..], Context.Time);
        span[n++] = (byte)',';
        return n;
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
