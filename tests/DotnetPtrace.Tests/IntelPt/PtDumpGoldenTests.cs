using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>
/// Our dump against libipt's ptdump run on real hardware traces (../shared/testdata/pt-real/*/ptdump*.txt):
/// every line, every field, every column width.
/// </summary>
public class PtDumpGoldenTests(ITestOutputHelper log)
{
    // ptdump.txt is plain ptdump except in keeper-user and skylake-perf-4.14, whose goldens carry the "ip" and "em"
    // columns; those and every ptdump-lastip.txt were made with --lastip --exec-mode.
    public static TheoryData<string, string, bool, bool> Goldens => new()
    {
        { "Unzip/trace.pt", "Unzip/ptdump.txt", false, false },
        { "Unzip/trace.pt", "Unzip/ptdump-lastip.txt", true, true },
        { "foo/trace.pt", "foo/ptdump.txt", false, false },
        { "foo/trace.pt", "foo/ptdump-lastip.txt", true, true },
        { "mruby/trace.pt", "mruby/ptdump.txt", false, false },
        { "mruby/trace.pt", "mruby/ptdump-lastip.txt", true, true },
        { "dyn_test/trace.pt", "dyn_test/ptdump.txt", false, false },
        { "dyn_test/trace.pt", "dyn_test/ptdump-lastip.txt", true, true },
        { "icelake_tip/trace.pt", "icelake_tip/ptdump.txt", false, false },
        { "icelake_tip/trace.pt", "icelake_tip/ptdump-lastip.txt", true, true },
        { "Kernel/trace.pt", "Kernel/ptdump.txt", false, false },
        { "Kernel/trace.pt", "Kernel/ptdump-lastip.txt", true, true },
        { "keeper-user/trace.pt", "keeper-user/ptdump.txt", true, true },
        { "skylake-perf-4.14/aux-cpu0.pt", "skylake-perf-4.14/aux-cpu0.ptdump.txt", true, true },
        { "skylake-perf-4.14/aux-cpu3.pt", "skylake-perf-4.14/aux-cpu3.ptdump.txt", true, true },
    };

    [Theory]
    [MemberData(nameof(Goldens))]
    public void Dump_reproduces_libipt_ptdump(string trace, string golden, bool lastIp, bool execMode)
    {
        string? root = PtTestSupport.PtRealDir;
        if (root == null)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string? expected = PtTestSupport.ReadGolden(Path.Combine(root, golden));
        Assert.True(expected != null, $"golden {golden} (or {golden}.xz) is missing from {root}");
        byte[] bytes = File.ReadAllBytes(Path.Combine(root, trace));

        var output = new StringWriter();
        int errors = new PtDumpPrinter(output, new PtDumpPrinterOptions { ShowLastIp = lastIp, ShowExecMode = execMode }).Dump(bytes);

        string[] want = expected!.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        PtTestSupport.AssertSameLines(want, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), golden);
        Assert.Equal(want.Count(l => l.StartsWith('[')), errors);
        log.WriteLine($"{golden}: {want.Length} lines identical");
    }
}
