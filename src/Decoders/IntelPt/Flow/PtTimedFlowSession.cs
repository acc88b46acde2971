namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>A flow sink that wants the decoder's time before each block.</summary>
public interface IPtTimedFlowSink : IPtFlowSink
{
    /// <summary>The decoder's time (TSC units) moved to <paramref name="tsc"/>; the next block is at that time.</summary>
    void OnTime(ulong tsc);
}

/// <summary>
/// <see cref="PtFlowSession.Decode"/> one block at a time, telling the sink the decoder's time before each block, for
/// output that stamps blocks (calls, JSON, --time slices). The same flow, events and errors; slower, since it never
/// enters the block decoder's branch-trace fast loop, whose blocks go to the sink before their time can be asked.
/// </summary>
public static class PtTimedFlowSession
{
    public static PtFlowSummary Decode<TSink>(ReadOnlySpan<byte> trace, PtImage image, PtFlowConfig config, ref TSink sink,
        PtStopRequest? stop = null)
        where TSink : IPtTimedFlowSink =>
        PtFlowSession.Run(trace, image, config, ref sink, new TimedBlocks<TSink> { LastTime = ulong.MaxValue }, stop);

    /// <summary>One block at a time, each preceded by the decoder's time when it changed.</summary>
    private struct TimedBlocks<TSink> : PtFlowSession.IBlockStep<TSink> where TSink : IPtTimedFlowSink
    {
        public ulong LastTime;

        public int Take(ref PtBlockDecoder dec, ref TSink sink, ref PtFlowSummary summary, out PtBlock block, out bool progressed)
        {
            int status = dec.Next(out block);
            progressed = !block.IsEmpty;
            if (progressed)
            {
                if (dec.TryGetTime(out ulong tsc) && tsc != LastTime)
                {
                    LastTime = tsc;
                    sink.OnTime(tsc);
                }
                summary.Instructions += block.InstructionCount;
                summary.Blocks++;
                sink.OnBlock(block);
            }
            return status;
        }
    }
}

/// <summary>
/// The event layer alone over a whole trace: every event with its time, no code needed (so a recording whose
/// binaries are missing still shows when tracing started and stopped, interrupts, overflows, paging, power and
/// PTWRITE events). Errors are reported with their offset and decoding resumes at the next PSB.
/// </summary>
public static class PtEventSession
{
    /// <param name="branches">Also report TIP targets (<see cref="PtEventType.Tip"/>); TNT bits are never reported.</param>
    public static PtFlowSummary Decode<TSink>(ReadOnlySpan<byte> trace, PtFlowConfig config, ref TSink sink, bool branches = false)
        where TSink : IPtFlowSink
    {
        var summary = new PtFlowSummary { TraceBytes = trace.Length };
        var dec = new PtEventDecoder(trace, config);
        long lastSync = -1;
        bool first = true;
        while (true)
        {
            PtFlowError e = dec.SyncForward();
            if (e == PtFlowError.EndOfStream) break;
            if (e != PtFlowError.Ok)
            {
                summary.Errors++;
                sink.OnError(PtFlowErrorKind.Sync, dec.Offset, 0, e);
                if (dec.Offset <= lastSync) break;
                lastSync = dec.Offset;
                continue;
            }
            if (dec.SyncOffset <= lastSync) break;
            lastSync = dec.SyncOffset;
            if (!first) summary.Gaps++;
            first = false;
            while (true)
            {
                long offset = dec.Offset;
                e = dec.Next(out PtEvent ev);
                if (e != PtFlowError.Ok) break;
                if (ev.Type == PtEventType.Tnt || (ev.Type == PtEventType.Tip && !branches) || ev.Type == PtEventType.Ignore) continue;
                if (ev.StatusUpdate) summary.StatusUpdates++;
                else
                {
                    summary.Events++;
                    if (ev.Type == PtEventType.Overflow) summary.Overflows++;
                }
                sink.OnEvent(ev, offset);
            }
            if (e == PtFlowError.EndOfStream) break;
            summary.Errors++;
            sink.OnError(PtFlowErrorKind.Decode, dec.Offset, 0, e);
        }
        return summary;
    }
}
