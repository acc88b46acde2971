using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>
/// The sink of one window of a live stream: a stretch of trace from a PSB cut point (or the stream's start) to the
/// next cut point, decoded by a fresh decoder. It passes on what the decoder that ran through the whole stream would
/// have passed on for this stretch, as <see cref="PtSegmentSink{TSink}"/> does for parallel decoding: a window that
/// starts at a cut drops its own synchronisation (the events before its PSBEND, which a decoder that ran through
/// the PSB reports as status updates in the window before), and a window stops, once its decoder has read the next
/// cut's PSB+, at the first block that starts at that PSB's FUP IP: from there the next window speaks. Unlike the
/// parallel sink it passes on the status updates of the next cut's PSB+ (the sequential decoder reports them, and the
/// sideband context follows them) and the decoder's time, and it turns window offsets into input offsets (where the bytes were in the perf.data, as `decode` prints them).
/// </summary>
internal struct LiveWindowSink(IPtTimedFlowSink inner, ulong windowStart, LiveOffsetMap offsets, int dropEventsBefore, long stopAt, ulong stopIp,
    PtStopRequest stop) : IPtTimedFlowSink
{
    private bool _atCut;
    public bool Stopped { get; private set; }
    public int Errors { get; private set; }
    public long Instructions { get; private set; }
    /// <summary>Set when the rest belongs to the next window (one per stream, reset for each window).</summary>
    public readonly PtStopRequest Stop = stop;

    public void OnBlock(in PtBlock block)
    {
        if (Stopped) return;
        if (_atCut && block.Ip == stopIp)
        {
            Stopped = true;
            Stop.Requested = true;
            return;
        }
        Instructions += block.InstructionCount;
        inner.OnBlock(block);
    }

    public void OnEvent(in PtEvent ev, long offset)
    {
        if (Stopped) return;
        if (offset >= stopAt) _atCut = true;
        else if (offset < dropEventsBefore) return;
        inner.OnEvent(ev, offsets.InputOffsetOf(windowStart + (ulong)offset));
    }

    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error)
    {
        if (Stopped) return;
        Errors++;
        inner.OnError(kind, offsets.InputOffsetOf(windowStart + (ulong)offset), ip, error);
    }

    public readonly void OnEndOfTrace()
    {
        if (!Stopped) inner.OnEndOfTrace();
    }

    public readonly void OnTime(ulong tsc)
    {
        if (!Stopped) inner.OnTime(tsc);
    }
}
