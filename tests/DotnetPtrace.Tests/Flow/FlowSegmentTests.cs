using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Flow;

/// <summary>
/// `decode --pt -j N` cuts a long trace at PSBs and decodes the pieces on N threads: the output must be the
/// sequential decode's, byte for byte. The oracle is libipt's ptxed golden of the real mruby trace; damaged input
/// (errors near cuts) must give what one thread gives.
/// </summary>
public sealed class FlowSegmentTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-segments-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string[] Args(string trace, string dir, string format, int jobs) =>
        ["decode", "--pt", trace, "--memdump", $"{dir}/pages.dump:{dir}/pages.addr", "--cpu", "6/94", "--format", format, "-j", $"{jobs}"];

    [Theory]
    [InlineData(2)]
    [InlineData(16)]
    public void Segments_in_parallel_give_the_ptxed_golden(int jobs)
    {
        if (PtTestSupport.PtRealDir is not { } root) { log.WriteLine("skipped: ../shared/testdata is absent"); return; }
        string dir = Path.Combine(root, "mruby");
        var r = Tool.Run(Args(Path.Combine(dir, "trace.pt"), dir, "addresses", jobs));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(@"decode: \d+ PSB segments on \d+ threads", r.Stderr);   // the cut path ran
        string golden = PtTestSupport.ReadGolden(Path.Combine(dir, "ptxed.txt"))!;
        Assert.True(golden == r.Stdout, "segmented output differs from ptxed's golden");
        var insn1 = Tool.Run(Args(Path.Combine(dir, "trace.pt"), dir, "insn", 1));
        var insnN = Tool.Run(Args(Path.Combine(dir, "trace.pt"), dir, "insn", jobs));
        Assert.True(insn1.Stdout == insnN.Stdout, "insn output depends on the number of threads");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(11)]
    public void Damaged_traces_decode_the_same_on_one_thread_and_many(int seed)
    {
        if (PtTestSupport.PtRealDir is not { } root) { log.WriteLine("skipped: ../shared/testdata is absent"); return; }
        string dir = Path.Combine(root, "mruby");
        byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
        var random = new Random(seed);
        for (int i = 0; i < 40; i++) trace[random.Next(trace.Length)] ^= (byte)(1 << random.Next(8));
        string damaged = Path.Combine(_dir, "damaged.pt");
        File.WriteAllBytes(damaged, trace);
        var one = Tool.Run(Args(damaged, dir, "addresses", 1));
        var many = Tool.Run(Args(damaged, dir, "addresses", 8));
        log.WriteLine(many.Stderr.Split('\n')[0]);
        Assert.Equal(one.ExitCode, many.ExitCode);
        Assert.True(one.Stdout == many.Stdout, "a damaged trace decodes differently on 8 threads");
        Assert.Contains("[", one.Stdout);   // the flips did cause errors
    }
}
