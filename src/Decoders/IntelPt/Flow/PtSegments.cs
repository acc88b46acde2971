namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// A point where one trace can be cut for parallel decoding: a PSB whose PSB+ carries a FUP (tracing is on there, so
/// a decoder starting at it knows the IP, the mode and the time, as the decoder that ran up to it does).
/// <see cref="PsbEnd"/> is the offset just after its PSBEND: events a fresh decoder reports before it are its own
/// synchronisation, which a decoder that ran through the PSB keeps to itself as status updates.
/// </summary>
/// <see cref="Ip"/> is the FUP's IP: where the flow is at the PSB, and where the next segment's first block starts.
public readonly record struct PtCutPoint(int Psb, int PsbEnd, ulong Ip);

/// <summary>Finds the cut points of a trace and picks evenly spaced ones for a number of segments.</summary>
public static class PtSegments
{
    /// <summary>Every PSB with a FUP in its PSB+, in order (the packet layer only: cheap next to decoding).</summary>
    public static List<PtCutPoint> FindCutPoints(ReadOnlySpan<byte> trace)
    {
        var points = new List<PtCutPoint>();
        for (int at = PtSync.Forward(trace, 0); at >= 0; at = PtSync.Forward(trace, at + 1))
        {
            var dec = new PtPacketDecoder(trace);
            if (dec.SyncSet(at) != PtStatus.Ok) continue;
            bool fup = false;
            var lastIp = new PtLastIp();   // reset at every PSB
            if (dec.Next(out PtPacket psb) != PtStatus.Ok || psb.Kind != PtPacketKind.Psb) continue;
            while (dec.Next(out PtPacket p) == PtStatus.Ok)
            {
                if (p.Kind == PtPacketKind.Fup) fup = lastIp.Update(p) && lastIp.HasIp && !lastIp.Suppressed;
                else if (p.Kind == PtPacketKind.PsbEnd)
                {
                    if (fup && at > 0) points.Add(new PtCutPoint(at, dec.Offset, lastIp.Ip));
                    break;
                }
                else if (p.Kind is PtPacketKind.Psb or PtPacketKind.Ovf or PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd) break;
            }
        }
        return points;
    }

    /// <summary>About <paramref name="segments"/> cut points spaced evenly by bytes (fewer when the trace has fewer).</summary>
    public static List<PtCutPoint> Choose(IReadOnlyList<PtCutPoint> points, int traceLength, int segments)
    {
        var chosen = new List<PtCutPoint>();
        if (segments <= 1 || points.Count == 0) return chosen;
        long step = traceLength / segments;
        int i = 0;
        for (int k = 1; k < segments; k++)
        {
            long target = k * step;
            while (i < points.Count && points[i].Psb < target) i++;
            if (i >= points.Count) break;
            if (chosen.Count == 0 || chosen[^1].Psb != points[i].Psb) chosen.Add(points[i]);
        }
        return chosen;
    }
}

/// <summary>
/// The sink of one segment of a trace cut at PSBs: passes on what the sequential decode would have printed for this
/// stretch. A segment that is not the first drops the events of its own synchronisation (before its PSBEND); every
/// segment stops, once its decoder has read the next cut's PSB+, at the first block that starts at that PSB's FUP IP
/// (from there the next segment speaks). Errors
/// are counted: a segment with an error, or one that never reached its end, cannot be trusted to equal the sequential
/// decode (a compressed return whose call was before the cut, a resync that the sequential decoder would report), and
/// the caller then decodes the trace sequentially instead.
/// </summary>
public struct PtSegmentSink<TSink>(TSink inner, int dropEventsBefore, int stopAt, ulong stopIp) : IPtFlowSink where TSink : IPtFlowSink
{
    private TSink _inner = inner;
    /// <summary>The decoder has read the next cut's PSB+ (it may read ahead of the blocks it still has to give).</summary>
    private bool _atCut;
    public bool Stopped { get; private set; }
    public int Errors { get; private set; }
    /// <summary>What this segment contributed (the session's own counts go on past the cut).</summary>
    public long Instructions { get; private set; }
    public long Blocks { get; private set; }
    public long Events { get; private set; }
    public long Overflows { get; private set; }
    public readonly TSink Inner => _inner;
    /// <summary>Set when the rest belongs to the next segment: pass it to the session so the decode ends there.</summary>
    public readonly PtStopRequest Stop = new();

    public void OnBlock(in PtBlock block)
    {
        if (Stopped) return;
        // The PSB's status update binds to its FUP IP: the first block from there is the next segment's first.
        if (_atCut && block.Ip == stopIp) { Stopped = true; Stop.Requested = true; return; }
        Instructions += block.InstructionCount;
        Blocks++;
        _inner.OnBlock(block);
    }

    public void OnEvent(in PtEvent ev, long offset)
    {
        if (Stopped) return;
        if (offset >= stopAt) { _atCut = true; return; }
        if (offset < dropEventsBefore) return;
        if (!ev.StatusUpdate)
        {
            Events++;
            if (ev.Type == PtEventType.Overflow) Overflows++;
        }
        _inner.OnEvent(ev, offset);
    }

    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error)
    {
        if (Stopped) return;
        Errors++;
        _inner.OnError(kind, offset, ip, error);
    }

    public void OnEndOfTrace()
    {
        if (!Stopped) _inner.OnEndOfTrace();
    }
}
