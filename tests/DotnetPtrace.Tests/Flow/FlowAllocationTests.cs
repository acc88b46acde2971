using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>Once the blocks of a trace are cached, decoding it again allocates (almost) nothing per instruction.</summary>
public class FlowAllocationTests(ITestOutputHelper log)
{
    private struct CountingSink : IPtFlowSink
    {
        public long Instructions;
        public long Events;
        public void OnBlock(in PtBlock block)
        {
            // Walk the instructions as an instruction-level consumer would.
            ulong ip = block.Ip;
            foreach (byte length in block.InstructionLengths) ip += length;
            Instructions += block.InstructionCount;
        }
        public void OnEvent(in PtEvent ev, long offset) => Events++;
        public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) { }
        public void OnEndOfTrace() { }
    }

    [Fact]
    public void Decoding_mruby_again_allocates_almost_nothing()
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, "mruby");
        byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        PtImage image = FlowTestSupport.LoadImage(dir);
        PtFlowConfig config = FlowTestSupport.Config("6/94");

        var cold = new CountingSink();
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        PtFlowSession.Decode(trace, image, config, ref cold);
        long coldBytes = GC.GetAllocatedBytesForCurrentThread() - a0;

        var warm = new CountingSink();
        long a1 = GC.GetAllocatedBytesForCurrentThread();
        PtFlowSummary s = PtFlowSession.Decode(trace, image, config, ref warm);
        long warmBytes = GC.GetAllocatedBytesForCurrentThread() - a1;

        log.WriteLine($"{s.Instructions} instructions, {s.Blocks} blocks, {warm.Events} events; " +
            $"first decode allocated {coldBytes} bytes (the block cache), second {warmBytes}");
        Assert.Equal(6_334_131, warm.Instructions);
        // A decoder is a few objects (Iced decoders, buffers); nothing may scale with the trace.
        Assert.True(warmBytes < 64 * 1024, $"the warm decode allocated {warmBytes} bytes");
        Assert.True(warmBytes < s.Instructions / 100, $"{warmBytes} bytes for {s.Instructions} instructions");
    }
}
