using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// JIT code: a .NET process (dotnet-ptrace itself, dumping a file) run with DOTNET_PerfMapEnabled=1 writes
/// /tmp/perf-PID.map; its managed methods must be named, as perf names them.
/// </summary>
public sealed partial class PerfMapTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-perfmap-");
    private readonly List<string> _maps = [];

    public void Dispose()
    {
        _dir.Delete(recursive: true);
        foreach (string map in _maps) File.Delete(map);
    }

    [Fact]
    public void Managed_methods_are_named_from_the_perf_map_like_perf_script_names_them()
    {
        string input = Path.Combine(_dir.FullName, "input.data");
        Assert.Equal(0, Tool.Run(["record", "-q", "-e", "cpu-clock", "-F", "10000", "-g", "-o", input, "--", SampleBinaries.CpuBound, "1000"]).ExitCode);
        string data = Path.Combine(_dir.FullName, "dotnet.data");
        var rec = Tool.Run(["record", "-q", "-e", "cpu-clock", "-F", "4000", "-o", data, "--",
            // W^X off: .NET then runs JIT code from //anon mappings, which perf 6.1 looks up in the map too (with W^X
            // the code sits in /memfd:doublemapper, which we treat as JIT and perf 6.1 does not, so it is no oracle).
            "env", "DOTNET_PerfMapEnabled=1", "DOTNET_EnableWriteXorExecute=0", "dotnet", Tool.DllPath, "script", "-i", input]);
        Assert.True(rec.ExitCode == 0, rec.ToString());

        var report = Tool.Run(["report", "-i", data]);
        Assert.True(report.ExitCode == 0, report.ToString());
        _maps.AddRange(PerfMapName().Matches(report.Stdout).Select(m => "/tmp/" + m.Value).Distinct());
        log.WriteLine(report.Stdout);
        Assert.Matches(@"perf-\d+\.map\s+\[\.\] .*\[(dotnet-ptrace|DotnetPtrace\.Decoders)\] DotnetPtrace\.[\w.+<>]+::", report.Stdout);

        // perf reads the same map: every sample it names from the map, we name the same.
        const string fields = "pid,tid,time,ip,sym,dso";
        var perf = Perf.Run("script", "-G", "-F", fields, "-i", data);
        Assert.Equal(0, perf.ExitCode);
        var ours = Tool.Run(["script", "-F", fields, "-i", data]);
        // Runtime stubs are listed inside larger "ReportStubBlock" entries of the same map; which of two overlapping
        // entries perf shows depends on the shape of its rb-tree, so only methods (which never overlap) are compared.
        static bool Method(string l) => l.Contains(".map)") && !l.Contains(" stub ");
        var expected = TestDataFiles.Normalize(perf.Stdout).Where(Method).ToList();
        var actual = TestDataFiles.Normalize(ours.Stdout).Where(Method).ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, actual);
    }

    [GeneratedRegex(@"perf-\d+\.map")]
    private static partial Regex PerfMapName();
}
