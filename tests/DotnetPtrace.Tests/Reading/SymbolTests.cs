using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>`report` names the hot function of cpu_bound (hot_spin, ~90% by design) however the binary was built.</summary>
public sealed class SymbolTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-symbols-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Theory]
    [InlineData("pie")]
    [InlineData("nopie")]
    [InlineData("stripped-debuglink")]
    public void Report_ranks_hot_spin_first(string build)
    {
        string source = Path.Combine(AppContext.BaseDirectory, "samples", "cpu_bound.c");
        string exe = Path.Combine(_dir.FullName, "cpu_bound");
        string[] pie = build == "nopie" ? ["-no-pie", "-fno-pie"] : ["-fpie", "-pie"];
        Run("gcc", ["-O0", "-g", "-fno-omit-frame-pointer", .. pie, "-o", exe, source]);
        if (build == "stripped-debuglink")
        {
            // The distribution way: symbols moved to cpu_bound.debug, the binary stripped and pointing at it.
            Run("objcopy", ["--only-keep-debug", exe, exe + ".debug"]);
            Run("strip", ["--strip-all", exe]);
            Run("objcopy", [$"--add-gnu-debuglink={exe}.debug", exe], _dir.FullName);
            Assert.DoesNotContain("hot_spin", File.ReadAllText(exe));
        }
        string data = Path.Combine(_dir.FullName, "perf.data");
        var rec = Tool.Run(["record", "-q", "-e", "cpu-clock", "-o", data, "--", exe, "300"]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        var report = Tool.Run(["report", "-i", data, "--sort", "symbol"]);
        Assert.True(report.ExitCode == 0, report.ToString());
        log.WriteLine(report.Stdout);
        string first = report.Stdout.Split('\n').First(l => l.Length > 0 && !l.StartsWith('#'));
        Assert.Contains("[.] hot_spin", first);
        double pct = double.Parse(first.Trim().Split('%')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(pct, 60, 100);
    }

    private static void Run(string file, string[] args, string? cwd = null)
    {
        var r = ProcessRunner.Run(file, args, TimeSpan.FromSeconds(60), workingDirectory: cwd);
        Assert.True(r.ExitCode == 0, $"{file}: {r}");
    }
}
