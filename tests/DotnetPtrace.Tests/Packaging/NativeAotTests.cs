using System.Diagnostics;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Packaging;

/// <summary>
/// The Native AOT binary (`dotnet publish -r linux-x64 -p:PublishAot=true`): it publishes without a trimming or AOT
/// warning, is one native executable, records, reports and decodes exactly as the JIT build does (and as perf, ptxed
/// and the assembly source say), and starts in under 50 ms.
/// </summary>
[Collection(PackagingCollection.Name)]
public class NativeAotTests(PackagingBuild build, ITestOutputHelper log)
{
    private const int StartupRuns = 10;

    private string Binary
    {
        get
        {
            build.Native.AssertSucceeded();
            return build.NativeBinary;
        }
    }

    private static ProcessResult Native(string binary, params string[] args) => ProcessRunner.Run(binary, args, TimeSpan.FromMinutes(2));

    [Fact]
    public void Publishes_one_native_binary_without_warnings()
    {
        var publish = build.Native.AssertSucceeded();
        log.WriteLine($"{publish.Command}: {publish.Log.Elapsed.TotalSeconds:F0} s");
        // ILC turns trim/AOT warnings into errors here (TreatWarningsAsErrors); any other warning must not pass either.
        Assert.True(publish.WarningLines.Count == 0, "publish warned:\n" + string.Join('\n', publish.WarningLines));
        // One executable to ship; next to it only its stripped debug symbols (objcopy --only-keep-debug).
        string[] files = Directory.GetFiles(publish.Directory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(["dotnet-ptrace", "dotnet-ptrace.dbg"], files);
        byte[] head = File.ReadAllBytes(build.NativeBinary)[..4];
        Assert.Equal("\x7f" + "ELF", System.Text.Encoding.ASCII.GetString(head));
        log.WriteLine($"binary: {new FileInfo(build.NativeBinary).Length:N0} bytes ({new FileInfo(build.NativeBinary).Length / (1024.0 * 1024.0):F1} MiB)");
    }

    [Fact]
    public void Records_and_reports_like_the_jit_build()
    {
        string binary = Binary;
        string data = Path.Combine(build.Root, "aot-cpu_bound.data");
        var rec = Native(binary, "record", "-e", "cpu-clock", "-o", data, "--", SampleBinaries.CpuBound, "200");
        Assert.True(rec.ExitCode == 0, rec.ToString());
        Assert.Contains("Captured and wrote", rec.Stderr);
        // Linux perf reads what the AOT binary wrote, without a complaint, and finds the sample's own function.
        string perf = Perf.Script(data, "comm,ip,sym");
        Assert.Contains("hot_spin", perf);

        foreach (string[] args in new[] { new[] { "report", "-i", data }, ["script", "-i", data], ["report", "-i", data, "--sort", "dso"] })
        {
            var aot = Native(binary, args);
            var jit = Tool.Run(args);
            Assert.True(aot.ExitCode == 0, aot.ToString());
            Assert.Equal(jit.Stdout, aot.Stdout);
            Assert.Equal(jit.Stderr, aot.Stderr);
        }
    }

    [Fact]
    public void Decodes_real_intel_pt_like_ptxed()
    {
        if (PtTestSupport.PtRealDir is not { } root) { log.WriteLine("skipped: ../shared/testdata/pt-real is absent"); return; }
        string binary = Binary;
        // dyn_test: libipt's ptxed golden, its "no memory mapped" errors included.
        string dir = Path.Combine(root, "dyn_test");
        string[] pt = ["decode", "--pt", Path.Combine(dir, "trace.pt"), "--memdump", $"{Path.Combine(dir, "pages.dump")}:{Path.Combine(dir, "pages.addr")}", "--cpu", "6/94"];
        var addresses = Native(binary, [.. pt, "--format", "addresses"]);
        Assert.True(addresses.ExitCode == 0, addresses.ToString());
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "ptxed.txt")), addresses.Stdout);
        // The disassembly (Iced under AOT) as the JIT build prints it.
        var insn = Native(binary, pt);
        var jit = Tool.Run(pt);
        Assert.True(insn.ExitCode == 0, insn.ToString());
        Assert.Equal(jit.Stdout, insn.Stdout);
    }

    [Fact]
    public void Records_software_pt_and_decodes_it_like_the_jit_build()
    {
        string binary = Binary;
        // samples/softpt/loop.S runs exactly 2,010 instructions (its header counts them from the source) and exits 7.
        string program = SoftPtSamples.NoStdlib("loop");
        string data = Path.Combine(build.Root, "aot-loop.data");
        var rec = Native(binary, "record", "--soft-pt", "-o", data, "--", program);
        Assert.True(rec.ExitCode == 7, rec.ToString());
        foreach (string format in new[] { "insn", "calls" })
        {
            var aot = Native(binary, "decode", "-i", data, "--format", format);
            var jit = Tool.Run(["decode", "-i", data, "--format", format]);
            Assert.True(aot.ExitCode == 0, aot.ToString());
            Assert.Contains("2,010 instructions", aot.Stderr);
            Assert.Contains("0 errors", aot.Stderr);
            Assert.Equal(jit.Stdout, aot.Stdout);
        }
    }

    [Fact]
    public void Help_starts_in_under_50_ms()
    {
        string binary = Binary;
        double aot = MedianMilliseconds(binary, ["--help"]);
        double jit = MedianMilliseconds("dotnet", [Tool.DllPath, "--help"]);
        log.WriteLine($"--help start-up, median of {StartupRuns}: Native AOT {aot:F1} ms; dotnet dotnet-ptrace.dll {jit:F1} ms ({jit / aot:F0}x)");
        Assert.True(aot < 50, $"the AOT binary took {aot:F1} ms (median of {StartupRuns}) to print --help");
    }

    /// <summary>Wall time from start to exit, median of <see cref="StartupRuns"/> runs after one warm-up (page cache).</summary>
    private static double MedianMilliseconds(string file, string[] args)
    {
        var times = new List<double>();
        for (int i = 0; i <= StartupRuns; i++)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string a in args) psi.ArgumentList.Add(a);
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), $"{file} --help did not exit");
            sw.Stop();
            Assert.Equal(0, p.ExitCode);
            if (i > 0) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (times[StartupRuns / 2 - 1] + times[StartupRuns / 2]) / 2;
    }
}
