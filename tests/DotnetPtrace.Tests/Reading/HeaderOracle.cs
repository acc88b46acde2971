using System.Text.RegularExpressions;
using DotnetPtrace.Cli.Dump;
using DotnetPtrace.Decoders.PerfData.Features;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// `dump --header` against perf 6.1's `perf report --header-only -I`, line for line. What is left out of the
/// comparison, and why:
/// <list type="bullet">
/// <item>Lines of our own (BUILD_ID entries, the TRACING_DATA summary, the AUXTRACE index): perf prints nothing
/// or only a flag for these features; they are checked against other perf commands instead (buildid-list,
/// report -D, the event names).</item>
/// </list>
/// Everything else must be identical, spacing included; no whitespace is normalised.
/// </summary>
public static partial class HeaderOracle
{
    private static readonly string[] OwnPrefixes =
        [BuildIdTable.OwnLinePrefix, TracingDataSummary.OwnLinePrefix, AuxtraceIndex.OwnLinePrefix];

    /// <summary>perf's header text, or null (with the reason logged) when perf 6.1 cannot read the file.</summary>
    public static string? Perf(string perfInput, ITestOutputHelper log)
    {
        var r = Infrastructure.Perf.Run("report", "--header-only", "-I", "-i", perfInput);
        if (r.ExitCode != 0 || !r.Stdout.Contains("# ========"))
        {
            log.WriteLine($"perf 6.1 cannot read {perfInput}: {r.Stderr.Trim()}");
            return null;
        }
        return r.Stdout;
    }

    /// <summary>Our header text; the tool must end normally (0, or 3 when the records after the header are damaged).</summary>
    public static string Ours(string path)
    {
        var r = Tool.Run(["dump", "--header", "-i", path]);
        Assert.True(r.ExitCode is 0 or 3, $"dump --header failed: {r}");
        Assert.DoesNotContain("Unhandled exception", r.Stderr);
        Assert.StartsWith("# ========\n", r.Stdout);
        return r.Stdout;
    }

    public static bool IsOwnLine(string line) => OwnPrefixes.Any(p => line.StartsWith(p, StringComparison.Ordinal));

    public static void AssertSameAsPerf(string perf, string ours, ITestOutputHelper log)
    {
        var expected = Lines(perf);
        var actual = Lines(ours).Where(l => !IsOwnLine(l)).ToList();
        Assert.DoesNotContain(actual, l => l.StartsWith(HeaderPrinter.ProblemPrefix, StringComparison.Ordinal));
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
            Assert.True(expected[i] == actual[i], $"line {i + 1} differs:\n perf: {expected[i]}\n ours: {actual[i]}");
        if (expected.Count != actual.Count)
            Assert.Fail($"perf printed {expected.Count} lines, we printed {actual.Count}; first extra: {(expected.Count > actual.Count ? expected[actual.Count] : actual[expected.Count])}");
        log.WriteLine($"{actual.Count} lines equal to perf's, {Lines(ours).Count(IsOwnLine)} lines of our own");
    }

    /// <summary>"buildid filename" pairs of perf buildid-list that have a build id (it also lists dsos without one).</summary>
    public static List<string> PerfBuildIds(string path)
    {
        var r = Infrastructure.Perf.Run("buildid-list", "-i", path);
        return [.. Lines(r.Stdout).Where(l => BuildIdLine().IsMatch(l)).Distinct().Order(StringComparer.Ordinal)];
    }

    public static List<string> OurBuildIds(string ours) =>
        [.. Lines(ours).Where(l => l.StartsWith(BuildIdTable.OwnLinePrefix + ": ", StringComparison.Ordinal))
            .Select(l => l[(BuildIdTable.OwnLinePrefix.Length + 2)..l.LastIndexOf(" (pid ", StringComparison.Ordinal)])
            .Distinct().Order(StringComparer.Ordinal)];

    public static List<string> Lines(string text) => [.. text.Split('\n').Where(l => l.Length > 0)];


    [GeneratedRegex(@"^[0-9a-f]{2,} \S")]
    private static partial Regex BuildIdLine();
}
