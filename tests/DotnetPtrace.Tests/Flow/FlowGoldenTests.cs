using System.Buffers;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>
/// The instruction flow of real hardware traces against libipt's ptxed (--insn-decoder --cpu F/M --no-inst) run on
/// the same memory images (../shared/testdata/pt-real): every instruction, event and error line, byte for byte,
/// including where ptxed reports an error (same offset and IP) and how it resumes; and ptxed's instruction count.
/// </summary>
public class FlowGoldenTests(ITestOutputHelper log)
{
    public static TheoryData<string, string> Traces => FlowTestSupport.DecodableTraces;

    [Theory]
    [MemberData(nameof(Traces))]
    public void Flow_equals_ptxed(string name, string cpu)
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, name);
        byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        PtImage image = FlowTestSupport.LoadImage(dir);

        using Stream golden = FlowTestSupport.OpenGolden(Path.Combine(dir, "ptxed.txt"), out var xz);
        var writer = new ComparingWriter(golden);
        var sink = new PtxedTextSink(writer);
        PtFlowSummary summary = PtFlowSession.Decode(trace, image, FlowTestSupport.Config(cpu), ref sink);
        writer.Finish();
        xz?.WaitForExit();

        Assert.True(writer.Difference == null, $"{name}: {writer.Difference}");
        Assert.Equal(FlowTestSupport.GoldenCount(dir), summary.Instructions);
        log.WriteLine($"{name}: {writer.Lines} lines identical; {summary.Instructions} instructions, {summary.Blocks} blocks, " +
            $"{summary.Events} events, {summary.Errors} errors, {summary.Gaps} gaps");
    }

    /// <summary>
    /// The step-by-step API (SyncForward, Next, Event) gives the same flow as the session's fast loop: a user driving
    /// the decoder by hand, as ptxed drives libipt, gets ptxed's output too.
    /// </summary>
    [Theory]
    [InlineData("dyn_test", "6/94")]
    [InlineData("Unzip", "6/94")]
    public void Step_by_step_api_equals_ptxed(string name, string cpu)
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, name);
        byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        var buffer = new ArrayBufferWriter<byte>();
        var sink = new PtxedTextSink(buffer);
        var dec = new PtBlockDecoder(trace, FlowTestSupport.LoadImage(dir), FlowTestSupport.Config(cpu));
        long lastSync = 0;
        while (true)
        {
            PtBlock block = default;
            int status = dec.SyncForward();
            if (status < 0)
            {
                if (PtBlockDecoder.ErrorOf(status) == PtFlowError.EndOfStream) break;
                sink.OnError(PtFlowErrorKind.Sync, dec.Offset, 0, PtBlockDecoder.ErrorOf(status));
                if (dec.Offset <= lastSync) break;
                lastSync = dec.Offset;
                continue;
            }
            while (true)
            {
                while (status >= 0 && (PtBlockDecoder.StatusOf(status) & PtFlowStatus.EventPending) != 0)
                {
                    status = dec.Event(out PtEvent ev);
                    if (status >= 0) sink.OnEvent(ev, 0);
                }
                if (status < 0) break;
                if ((PtBlockDecoder.StatusOf(status) & PtFlowStatus.EndOfStream) != 0)
                {
                    status = -(int)PtFlowError.EndOfStream;
                    break;
                }
                status = dec.Next(out block);
                if (!block.IsEmpty) sink.OnBlock(block);
                if (status < 0) break;
            }
            PtFlowError e = PtBlockDecoder.ErrorOf(status);
            if (e == PtFlowError.EndOfStream) break;
            sink.OnError(PtFlowErrorKind.Decode, dec.Offset, PtFlowSession.ErrorIp(block, e), e);
        }
        string? expected = PtTestSupport.ReadGolden(Path.Combine(dir, "ptxed.txt"));
        PtTestSupport.AssertSameLines(expected!.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries), name);
    }
}

/// <summary>Erratum BDM70 as the pt-real README documents it: without the workaround libipt's ptxed reports errors.</summary>
public class FlowErrataTests(ITestOutputHelper log)
{
    [Fact]
    public void Without_bdm70_the_psb_header_fup_before_tip_pge_is_an_error()
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, "dyn_test");
        byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        var (lines, summary) = FlowTestSupport.OurText(trace, FlowTestSupport.LoadImage(dir), new PtFlowConfig());
        var errors = lines.Where(l => l.Contains(": error: ")).ToList();
        log.WriteLine($"{summary.Errors} errors without errata, e.g. {errors.FirstOrDefault()}");
        Assert.Contains(errors, l => l.EndsWith("bad status update]") || l.EndsWith("unexpected packet context]"));

        // With the errata of the CPU the trace was recorded on, none of those.
        var (ok, _) = FlowTestSupport.OurText(trace, FlowTestSupport.LoadImage(dir), FlowTestSupport.Config("6/94"));
        Assert.DoesNotContain(ok, l => l.EndsWith("bad status update]") || l.EndsWith("unexpected packet context]"));
    }

    [Theory]
    [InlineData(6, 94, true)]
    [InlineData(6, 126, true)]
    [InlineData(6, 0x3d, true)]
    [InlineData(6, 0x5c, false)]
    [InlineData(15, 1, false)]
    public void Bdm70_applies_to_the_cpus_libipt_lists(int family, int model, bool bdm70)
    {
        PtErrata.TryForCpu(family, model, out var errata);
        Assert.Equal(bdm70, errata.Bdm70);
    }
}
