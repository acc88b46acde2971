using System.Buffers;
using System.Text.Unicode;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// Events and errors only, from the event layer (no code needed): time, thread, file offset of the packet, and
/// the event as ptxed names it, with its IP (<c>from -> to</c> for interrupts and asynchronous disables).
/// </summary>
internal sealed class EventsFormatter(IBufferWriter<byte> output) : FlowFormatter(output)
{
    public override void Block(in PtBlock block) { }

    public override void Event(in PtEvent ev, long fileOffset)
    {
        if (ev.StatusUpdate) return;
        Span<byte> span = Output.GetSpan(512);
        int n = Time(span);
        Utf8.TryWrite(span[n..], $" {Context.Tid,7} {fileOffset,10:x}  ", out int m);
        n += m;
        if (!PtEventText.TryFormat(ev, span.Slice(n, 200), out m)) m = 0;
        n += m;
        if (ev.Type is PtEventType.AsyncBranch or PtEventType.AsyncDisabled)
        {
            Utf8.TryWrite(span[n..], $"  {ev.From:x} ->", out m);
            n += m;
        }
        if (!ev.IpSuppressed && HasIp(ev.Type))
        {
            Utf8.TryWrite(span[n..], $"  {ev.Ip:x}", out m);
            n += m;
        }
        span[n++] = (byte)'\n';
        Output.Advance(n);
    }

    /// <summary>Events whose IP field means something (the rest carry a payload, shown in their text).</summary>
    private static bool HasIp(PtEventType type) => type is not (PtEventType.Paging or PtEventType.Vmcs or PtEventType.Stop
        or PtEventType.Pwre or PtEventType.Pwrx or PtEventType.Cbr or PtEventType.Mnt or PtEventType.Sipi or PtEventType.Rsm);

    public override void Error(PtFlowErrorKind kind, long fileOffset, ulong ip, PtFlowError error)
    {
        Span<byte> span = Output.GetSpan(256);
        int n = Time(span);
        Utf8.TryWrite(span[n..], $" {Context.Tid,7} ", out int m);
        Output.Advance(n + m);
        base.Error(kind, fileOffset, ip, error);
    }
}
