using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>With no -F, `script` prints perf's default fields (comm, tid, cpu when sampled, time, period, event, ip, sym+off, dso).</summary>
public sealed class ScriptDefaultTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-script-default-");
    public void Dispose() => _dir.Delete(recursive: true);

    [Theory]
    [InlineData("task")]
    [InlineData("system-wide")]
    public void Default_lines_equal_perfs_default_lines(string mode)
    {
        string data = Path.Combine(_dir.FullName, mode + ".data");
        string[] target = mode == "task" ? [SampleBinaries.CpuBound, "200"] : ["-a", "--", SampleBinaries.CpuBound, "200"];
        var rec = Perf.Run(["record", "-q", "-e", "cpu-clock", "-F", "1000", "-o", data, .. target]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        var perf = Perf.Run("script", "-i", data);
        Assert.True(perf.ExitCode == 0, perf.ToString());
        var ours = Tool.Run(["script", "-i", data]);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        // Column widths differ between perf versions (6.1 pads tids to 5, later ones to 7): compare words.
        static string[] Words(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => Regex.Replace(l.Trim(), @"\s+", " ")).ToArray();
        string[] expected = Words(perf.Stdout), actual = Words(ours.Stdout);
        log.WriteLine(string.Join("\n", actual.Take(3)));
        Assert.NotEmpty(expected);
        int first = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.True(first < 0 && expected.Length == actual.Length,
            first < 0 ? $"{expected.Length} lines from perf, {actual.Length} from us" : $"line {first}:\nperf: {expected[first]}\nours: {actual[first]}");
    }
}
