using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Decode;

/// <summary>What to show of a stream: one thread (--tid), a span of perf time (--time). Null parts select all.</summary>
internal sealed record Selection(int? Tid, ulong? From, ulong? To)
{
    public bool All => Tid is null && From is null && To is null;

    public bool Selects(StreamContext c) =>
        (Tid is not int t || c.Tid == t)
        && (From is null && To is null || c.HasTime && (From is not ulong f || c.Time >= f) && (To is not ulong e || c.Time <= e));
}

/// <summary>
/// The sink one stream decodes into: it tells the <see cref="StreamContext"/> about every event first (thread,
/// time, mappings follow the trace), then hands what the selection lets through to the formatter, and counts it.
/// A missing image that the trace needed is reported once (across all streams) through <see cref="ReportProblem"/>.
/// </summary>
internal sealed class StreamSink(StreamContext context, FlowFormatter? formatter, Selection selection, Action<ImageProblem> reportProblem)
    : IPtTimedFlowSink
{
    private TraceSegment? _segment;
    private long _bytesBefore;

    /// <summary>Where this stream's decoded trace bytes go for the progress line (slot <see cref="ProgressSlot"/>).</summary>
    public ProgressCounters? Progress { get; init; }
    public int ProgressSlot { get; init; }

    public StreamContext Context => context;
    public Action<ImageProblem> ReportProblem => reportProblem;
    public long SelectedInstructions { get; private set; }
    public long SelectedBlocks { get; private set; }
    public long SelectedEvents { get; private set; }

    /// <summary>The segment being decoded now: offsets in it become file offsets.</summary>
    public void StartSegment(TraceSegment segment, bool first)
    {
        if (_segment is not null) _bytesBefore += _segment.Size;
        _segment = segment;
        if (!first) formatter?.Gap();
    }

    /// <summary>The file offset of segment byte <paramref name="offset"/> (as <see cref="TraceSegment.FileOffsetOf"/>; by index: asked per event).</summary>
    private long FileOffset(long offset)
    {
        if (_segment is null) return offset;
        IReadOnlyList<AuxtraceBuffer> buffers = _segment.Buffers;
        for (int i = 0; i < buffers.Count; i++)
        {
            AuxtraceBuffer b = buffers[i];
            if (offset < b.Size) return b.FileOffset + offset;
            offset -= b.Size;
        }
        return buffers.Count == 0 ? offset : buffers[^1].FileOffset + buffers[^1].Size;
    }

    public void OnBlock(in PtBlock block)
    {
        if (!selection.All && !selection.Selects(context)) return;
        SelectedInstructions += block.InstructionCount;
        SelectedBlocks++;
        formatter?.Block(block);
    }

    public void OnEvent(in PtEvent ev, long offset)
    {
        context.OnEvent(ev);
        Progress?.Set(ProgressSlot, _bytesBefore + offset);   // events (a PSB+ at least) come every few KB of trace
        if (!selection.All && !selection.Selects(context)) return;
        if (!ev.StatusUpdate) SelectedEvents++;
        formatter?.Event(ev, FileOffset(offset));
    }

    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error)
    {
        if (context.OnError(error, ip) is { } problem) reportProblem(problem);
        if (!selection.All && !selection.Selects(context)) return;
        formatter?.Error(kind, FileOffset(offset), ip, error);
    }

    public void OnEndOfTrace()
    {
        if (!selection.All && !selection.Selects(context)) return;
        formatter?.EndOfTrace();
    }

    public void OnTime(ulong tsc) => context.OnTime(tsc);
}
