namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>Where an error line comes from, as ptxed labels it.</summary>
public enum PtFlowErrorKind : byte
{
    /// <summary>"error": decoding failed; it resumes at the next PSB.</summary>
    Decode,
    /// <summary>"sync error": the PSB+ to start from could not be read.</summary>
    Sync,
}

/// <summary>Receives what <see cref="PtFlowSession"/> decodes, in trace order.</summary>
public interface IPtFlowSink
{
    /// <summary>A block of instructions (see <see cref="PtBlock"/>; its lengths are valid during the call only).</summary>
    void OnBlock(in PtBlock block);
    /// <summary>An event; <see cref="PtEvent.StatusUpdate"/> ones restate PSB+ state (ptxed does not print them).</summary>
    void OnEvent(in PtEvent ev, long offset);
    /// <summary>An error at trace <paramref name="offset"/> with the IP decoding stood at; decoding resumes at the next PSB.</summary>
    void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error);
    /// <summary>The trace ended while tracing was enabled.</summary>
    void OnEndOfTrace();
}

/// <summary>Set by a sink that wants nothing more; the session ends at its next step (a class: no boxing of struct sinks).</summary>
public sealed class PtStopRequest
{
    public bool Requested;
}

/// <summary>Counts of one decode.</summary>
public struct PtFlowSummary
{
    public long Instructions;
    public long Blocks;
    /// <summary>Events reported (status updates not included).</summary>
    public long Events;
    public long StatusUpdates;
    public long Errors;
    /// <summary>Synchronisations at a PSB after an error: stretches of trace that could not be decoded.</summary>
    public long Gaps;
    public long Overflows;
    public long TraceBytes;
}

/// <summary>
/// Decodes a whole trace the way ptxed's block loop does: synchronise, drain events, take blocks, report each error
/// with its offset and IP, resume at the next PSB, until the trace ends. Errors never end the decode.
/// </summary>
public static class PtFlowSession
{
    public static PtFlowSummary Decode<TSink>(ReadOnlySpan<byte> trace, PtImage image, PtFlowConfig config, ref TSink sink,
        PtStopRequest? stop = null)
        where TSink : IPtFlowSink =>
        Run(trace, image, config, ref sink, new BatchedBlocks<TSink>(), stop);

    /// <summary>How the loop below takes blocks: in batches (the fast path) or one at a time with their time.</summary>
    internal interface IBlockStep<TSink> where TSink : IPtFlowSink
    {
        /// <summary>Takes one or more blocks; <paramref name="progressed"/> says whether any instruction was decoded.</summary>
        int Take(ref PtBlockDecoder dec, ref TSink sink, ref PtFlowSummary summary, out PtBlock block, out bool progressed);
    }

    /// <summary>The block decoder's branch-trace fast loop: many blocks per call, straight to the sink.</summary>
    private struct BatchedBlocks<TSink> : IBlockStep<TSink> where TSink : IPtFlowSink
    {
        public readonly int Take(ref PtBlockDecoder dec, ref TSink sink, ref PtFlowSummary summary, out PtBlock block, out bool progressed)
        {
            long before = summary.Instructions;
            int status = dec.NextBlocks(ref sink, ref summary, out block);
            progressed = summary.Instructions != before;
            return status;
        }
    }

    /// <summary>
    /// ptxed's loop: synchronise, drain events, take blocks, report each error with its offset and IP, resume at the
    /// next PSB, until the trace ends. <paramref name="step"/> decides how blocks are taken.
    /// </summary>
    internal static PtFlowSummary Run<TSink, TStep>(ReadOnlySpan<byte> trace, PtImage image, PtFlowConfig config, ref TSink sink, TStep step,
        PtStopRequest? stop = null)
        where TSink : IPtFlowSink where TStep : struct, IBlockStep<TSink>
    {
        var summary = new PtFlowSummary { TraceBytes = trace.Length };
        var dec = new PtBlockDecoder(trace, image, config);
        long lastSync = 0;
        bool first = true;
        while (true)
        {
            PtBlock block = default;
            int status = dec.SyncForward();
            if (status < 0)
            {
                PtFlowError e = PtBlockDecoder.ErrorOf(status);
                if (e == PtFlowError.EndOfStream) break;
                summary.Errors++;
                sink.OnError(PtFlowErrorKind.Sync, dec.Offset, 0, e);
                // No progress means there never will be: give up (ptxed does the same).
                long newSync = dec.Offset;
                if (newSync <= lastSync) break;
                lastSync = newSync;
                continue;
            }
            if (!first) summary.Gaps++;
            first = false;
            int stalls = 0;

            while (true)
            {
                while ((status & (int)PtFlowStatus.EventPending) != 0)
                {
                    long offset = dec.Offset;
                    status = dec.Event(out PtEvent ev);
                    if (status < 0) break;
                    if (ev.StatusUpdate) summary.StatusUpdates++;
                    else
                    {
                        summary.Events++;
                        if (ev.Type == PtEventType.Overflow) summary.Overflows++;
                    }
                    sink.OnEvent(ev, offset);
                }
                if (status < 0) break;
                if ((status & (int)PtFlowStatus.EndOfStream) != 0)
                {
                    if ((status & (int)PtFlowStatus.IpSuppressed) == 0) sink.OnEndOfTrace();
                    status = -(int)PtFlowError.EndOfStream;
                    break;
                }
                status = step.Take(ref dec, ref sink, ref summary, out block, out bool progressed);
                if (stop is { Requested: true }) return summary;
                if (status < 0) break;
                // Guard against a decoder state that makes no progress (libipt's loop has none; a hang is worse
                // than an error): nothing decoded, nothing pending, not at the end, several times in a row.
                if (!progressed && (status & (int)(PtFlowStatus.EventPending | PtFlowStatus.EndOfStream)) == 0)
                {
                    if (++stalls > 3)
                    {
                        status = -(int)PtFlowError.Internal;
                        break;
                    }
                }
                else stalls = 0;
            }
            PtFlowError error = PtBlockDecoder.ErrorOf(status);
            if (error == PtFlowError.EndOfStream) break;
            summary.Errors++;
            sink.OnError(PtFlowErrorKind.Decode, dec.Offset, ErrorIp(block, error), error);
        }
        return summary;
    }

    /// <summary>
    /// The IP ptxed reports with an error: where an empty block would have started, else its last instruction, or,
    /// when the next instruction could not be read, the one after it (a branch's direct target if it has one).
    /// </summary>
    public static ulong ErrorIp(in PtBlock block, PtFlowError error)
    {
        if (block.IsEmpty) return block.Ip;
        if (error is PtFlowError.NoMap or PtFlowError.BadInstruction)
        {
            PtInsn last = block.Last;
            return last.Class is PtInsnClass.CondJump or PtInsnClass.Call or PtInsnClass.Jump && last.IsDirect ? last.Target : last.NextIp;
        }
        return block.EndIp;
    }
}
