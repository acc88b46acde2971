using System.Globalization;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.FlameGraph;

/// <summary>
/// One recording shared by the flame graph tests: samples/work_ratio (work_1x, work_2x and work_3x do 1, 2 and 3
/// units of the same loop) under `record -g -e cpu-clock -F 2000`, with our folded stacks and flame graph of it.
/// </summary>
public static class WorkRatioRecording
{
    private static readonly Lazy<Files> Made = new(Make, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed record Files(string Data, string Folded, string Svg, string ReportStderr);

    public static Files Get() => Made.Value;

    private static Files Make()
    {
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-flame-").FullName;
        string data = Path.Combine(dir, "work.data"), folded = Path.Combine(dir, "work.folded"), svg = Path.Combine(dir, "work.svg");
        var rec = Tool.Run(["record", "-q", "-g", "-e", "cpu-clock", "-F", "2000", "-o", data, "--", SampleBinaries.Path("work_ratio"), "1000"]);
        if (rec.ExitCode != 0) throw new InvalidOperationException($"record failed: {rec}");
        var report = Tool.Run(["report", "-i", data, "--folded", folded, "--flamegraph", svg]);
        if (report.ExitCode != 0) throw new InvalidOperationException($"report failed: {report}");
        return new Files(data, folded, svg, report.Stderr);
    }

    /// <summary>Folded lines as (frames, count).</summary>
    public static List<(string[] Frames, long Count)> ParseFolded(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            int space = line.LastIndexOf(' ');
            return (line[..space].Split(';'), long.Parse(line[(space + 1)..], CultureInfo.InvariantCulture));
        }).ToList();

    /// <summary>Samples whose stack holds <paramref name="frame"/> (the flame graph frame's weight when it appears in one place).</summary>
    public static long CountThrough(IEnumerable<(string[] Frames, long Count)> folded, string frame) =>
        folded.Where(l => l.Frames.Contains(frame)).Sum(l => l.Count);
}
