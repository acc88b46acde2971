using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Live;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Tests.Allocation;

/// <summary>
/// The warm-up `trace` runs before the trace comes really goes through the decoder: its hand-assembled loop (call,
/// nop, ret, jnz; 30 iterations per PSB, 8 PSBs, then a syscall) decodes to exactly the instructions the bytes say,
/// without errors, in both decode modes.
/// </summary>
public sealed class LiveWarmUpTests
{
    private sealed class Counting : ILiveOutput, ILiveStreamSink
    {
        public long Instructions, Calls, Errors, Streams, Flushes;
        public ILiveStreamSink Open(StreamContext context, ImageSource images)
        {
            Streams++;
            return this;
        }
        public void Flush() => Flushes++;
        public void OnBlock(in PtBlock block)
        {
            Instructions += block.InstructionCount;
            if (block.Last.Class == PtInsnClass.Call) Calls++;
        }
        public void OnEvent(in PtEvent ev, long offset) { }
        public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) => Errors++;
        public void OnEndOfTrace() { }
        public void OnTime(ulong tsc) { }
        public void StartSegment(bool first) { }
        public void Skipped(in LiveSkip skip) => Errors++;
        public void Decoded(ulong upTo) { }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_made_up_trace_decodes_to_the_loop_it_describes(bool timed)
    {
        var output = new Counting();
        LiveWarmUp.Run(output, timed, TimeSpan.Zero, TimeSpan.Zero);   // one round
        Assert.Equal(1, output.Streams);
        Assert.Equal(0, output.Errors);
        Assert.Equal(240, output.Calls);
        Assert.Equal(240 * 4 + 1, output.Instructions);   // call, nop, ret, jnz per iteration; the syscall
    }
}
