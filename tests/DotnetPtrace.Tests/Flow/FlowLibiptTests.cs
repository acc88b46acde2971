using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>
/// Our flow against libipt's instruction flow decoder (Debian libipt-dev 2.0.5, pt_insn_next in a ptxed loop, see
/// libipt_flow_harness.c) over the same trace and memory image. That libipt is older than the goldens' (its query
/// decoder reads ahead differently, so error offsets and exec-mode events differ); instruction addresses must not.
/// </summary>
public class FlowLibiptTests(ITestOutputHelper log)
{
    private static bool IsAddress(string line) => line.Length == 16 && !line.StartsWith('[');

    [Theory]
    [InlineData("Unzip", "6/94")]
    [InlineData("foo", "6/94")]
    [InlineData("dyn_test", "6/94")]
    [InlineData("icelake_tip", "6/126")]
    public void Instruction_addresses_equal_libipt(string name, string cpu)
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, name);
        string tracePath = Path.Combine(dir, "trace.pt");
        string[] theirs = FlowTestSupport.LibiptInsn(tracePath, dir, cpu).Where(IsAddress).ToArray();
        var (lines, summary) = FlowTestSupport.OurText(File.ReadAllBytes(tracePath), FlowTestSupport.LoadImage(dir), FlowTestSupport.Config(cpu));
        string[] ours = lines.Where(IsAddress).ToArray();
        PtTestSupport.AssertSameLines(theirs, ours, $"{name} instruction addresses");
        Assert.Equal(theirs.Length, summary.Instructions);
        log.WriteLine($"{name}: {ours.Length} instruction addresses identical to libipt's");
    }

    /// <summary>
    /// Bit flips in a real trace: both decoders find errors; ours never throws, never hangs, gives every error an
    /// offset inside the trace, and agrees with libipt on every instruction before the first error.
    /// </summary>
    [Fact]
    public void Bit_flipped_traces_make_both_decoders_report_errors()
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, "Unzip");
        byte[] original = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        PtImage image = FlowTestSupport.LoadImage(dir);
        string tmp = Path.Combine(Path.GetTempPath(), $"flow-flip-{Environment.ProcessId}.pt");
        try
        {
            for (int seed = 1; seed <= 12; seed++)
            {
                byte[] bytes = (byte[])original.Clone();
                var random = new Random(seed);
                for (int i = 0; i < 8; i++) bytes[random.Next(64, bytes.Length)] ^= (byte)(1 << random.Next(8));
                File.WriteAllBytes(tmp, bytes);

                string[] theirs = FlowTestSupport.LibiptInsn(tmp, dir, "6/94");
                var started = System.Diagnostics.Stopwatch.StartNew();
                var (ours, summary) = FlowTestSupport.OurText(bytes, image, FlowTestSupport.Config("6/94"));
                Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"seed {seed}: decoding took {started.Elapsed}");

                Assert.Contains(theirs, l => l.Contains(": error: ") || l.Contains(": sync error: "));
                Assert.True(summary.Errors > 0, $"seed {seed}: we found no error in a corrupted trace");
                FlowErrorLines.AssertHaveOffsets(ours, bytes.Length, $"seed {seed}");

                string[] a = BeforeFirstError(ours), b = BeforeFirstError(theirs);
                int n = Math.Min(a.Length, b.Length);
                PtTestSupport.AssertSameLines(b[..n], a[..n], $"seed {seed}: instructions before the first error");
                log.WriteLine($"seed {seed}: libipt {theirs.Count(l => l.Contains("error"))} errors, ours {summary.Errors}; {n} instructions agree before the first");
            }
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>A trace cut anywhere decodes to the same instructions in both decoders.</summary>
    [Fact]
    public void Truncated_traces_give_libipts_instructions()
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, "Unzip");
        byte[] original = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        PtImage image = FlowTestSupport.LoadImage(dir);
        string tmp = Path.Combine(Path.GetTempPath(), $"flow-cut-{Environment.ProcessId}.pt");
        try
        {
            foreach (int length in new[] { 17, 1000, 5000, 9999, 16000 })
            {
                byte[] bytes = original[..length];
                File.WriteAllBytes(tmp, bytes);
                string[] theirs = FlowTestSupport.LibiptInsn(tmp, dir, "6/94").Where(IsAddress).ToArray();
                var (ours, _) = FlowTestSupport.OurText(bytes, image, FlowTestSupport.Config("6/94"));
                PtTestSupport.AssertSameLines(theirs, ours.Where(IsAddress).ToArray(), $"cut at {length}");
                log.WriteLine($"cut at {length}: {theirs.Length} instructions identical");
            }
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private static string[] BeforeFirstError(string[] lines)
    {
        int e = Array.FindIndex(lines, l => l.StartsWith('[') && l.Contains("error: "));
        return (e < 0 ? lines : lines[..e]).Where(IsAddress).ToArray();
    }
}
