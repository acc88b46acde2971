using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>`dotnet-ptrace decode` as a user runs it, against ptxed's goldens and counts.</summary>
public class DecodeCommandTests(ITestOutputHelper log)
{
    private static string[] MemDump(string dir) =>
        ["--memdump", $"{Path.Combine(dir, "pages.dump")}:{Path.Combine(dir, "pages.addr")}"];

    [Theory]
    [InlineData("dyn_test", "6/94")]
    [InlineData("icelake_tip", "6/126")]
    public void Addresses_format_is_ptxed_no_inst(string name, string cpu)
    {
        if (PtTestSupport.PtRealDir is not { } root) { log.WriteLine("skipped: ../shared/testdata/pt-real is absent"); return; }
        string dir = Path.Combine(root, name);
        var r = Tool.Run(["decode", "--pt", Path.Combine(dir, "trace.pt"), .. MemDump(dir), "--cpu", cpu, "--format", "addresses"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "ptxed.txt")), r.Stdout);
        int errors = r.Stdout.Split('\n').Count(l => l.Contains(": error: "));
        if (errors > 0) Assert.Contains($"{errors} error(s)", r.Stderr);
    }

    [Fact]
    public void Quiet_stat_prints_ptxeds_instruction_count()
    {
        if (PtTestSupport.PtRealDir is not { } root) { log.WriteLine("skipped: ../shared/testdata/pt-real is absent"); return; }
        string dir = Path.Combine(root, "foo");
        var r = Tool.Run(["decode", "--pt", Path.Combine(dir, "trace.pt"), .. MemDump(dir), "--cpu", "6/94", "--quiet", "--stat"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "ptxed-count.txt")).Trim(), lines[0]);
        Assert.Contains("errors: 0.", lines);
    }

    [Fact]
    public void Insn_format_disassembles_each_address_of_the_flow()
    {
        if (PtTestSupport.PtRealDir is not { } root) { log.WriteLine("skipped: ../shared/testdata/pt-real is absent"); return; }
        string dir = Path.Combine(root, "icelake_tip");
        var r = Tool.Run(["decode", "--pt", Path.Combine(dir, "trace.pt"), .. MemDump(dir), "--cpu", "6/126"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        // The same lines as ptxed --no-inst, each instruction followed by its disassembly.
        string[] golden = File.ReadAllLines(Path.Combine(dir, "ptxed.txt"));
        string[] ours = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(golden.Length, ours.Length);
        for (int i = 0; i < golden.Length; i++)
        {
            if (golden[i].StartsWith('[')) Assert.Equal(golden[i], ours[i]);
            else
            {
                Assert.StartsWith(golden[i] + "  ", ours[i]);
                Assert.DoesNotContain("(bad)", ours[i]);
            }
        }
    }

    [Theory]
    [InlineData("--image", "nofile")]
    [InlineData("--image", "/nonexistent/file:0x1000")]
    [InlineData("--memdump", "only-one-part")]
    [InlineData("--cpu", "six")]
    public void Bad_options_are_one_line_errors(string option, string value)
    {
        string trace = PtTestSupport.PtRealDir is { } root ? Path.Combine(root, "Unzip", "trace.pt") : "/dev/null";
        var r = Tool.Run(["decode", "--pt", trace, option, value]);
        Assert.Equal(1, r.ExitCode);
        string[] err = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(err);
        Assert.StartsWith("decode: ", err[0]);
        log.WriteLine(err[0]);
    }

    [Fact]
    public void A_missing_trace_is_a_one_line_error()
    {
        var r = Tool.Run(["decode", "--pt", "/nonexistent/trace.pt"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("/nonexistent/trace.pt", r.Stderr);
    }
}
