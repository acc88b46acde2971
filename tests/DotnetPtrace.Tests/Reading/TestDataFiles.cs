using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// The public perf.data files in ../shared/testdata/perf-data, read in place (never copied into this repository).
/// When the folder is absent, tests print why and return.
/// </summary>
public static partial class TestDataFiles
{
    public static readonly string? Folder = Find();

    public static string Absent => $"SKIPPED: ../shared/testdata/perf-data not found next to the repository (looked upward from {AppContext.BaseDirectory})";

    /// <summary>Every perf.data file (not the .buildids lists or licenses).</summary>
    public static IEnumerable<object[]> All()
    {
        if (Folder is null) { yield return ["(absent)"]; yield break; }
        foreach (string f in Directory.GetFiles(Folder).Select(Path.GetFileName).Order()!)
            if (!f!.EndsWith(".buildids", StringComparison.Ordinal) && !f.StartsWith("LICENSE", StringComparison.Ordinal))
                yield return [f];
    }

    public static string PathOf(string name) => Path.Combine(Folder!, name);

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "..", "shared", "testdata", "perf-data");
            if (File.Exists(Path.Combine(dir.FullName, "dotnet-ptrace.sln")))
                return Directory.Exists(candidate) ? Path.GetFullPath(candidate) : null;
        }
        return null;
    }

    /// <summary>Reads a whole file with our reader: counts per type name ("SAMPLE"), and the error if any.</summary>
    public static (Dictionary<string, long> Counts, ReadError? Error) ReadCounts(string path)
    {
        using var reader = PerfDataReader.Open(path);
        while (reader.TryRead(out _)) { }
        var counts = reader.Counts().ToDictionary(c => RecordTypeNames.Short(c.Type), c => c.Count);
        return (counts, reader.Error);
    }

    /// <summary>perf 6.1's "Aggregated stats" of `perf report --stats`, or null when perf cannot read the file.</summary>
    public static Dictionary<string, long>? PerfStats(string path)
    {
        var r = Perf.Run("report", "--stats", "-i", path);
        if (r.ExitCode != 0 || !r.Stdout.Contains("Aggregated stats:")) return null;
        var counts = new Dictionary<string, long>();
        bool inAggregate = false;
        foreach (string line in r.Stdout.Split('\n'))
        {
            if (line.Contains("Aggregated stats:")) { inAggregate = true; continue; }
            if (!inAggregate) continue;
            if (line.TrimEnd().EndsWith("stats:", StringComparison.Ordinal)) break;   // per-event sections follow
            var m = StatLine().Match(line);
            if (m.Success && m.Groups[1].Value != "TOTAL") counts[m.Groups[1].Value] = long.Parse(m.Groups[2].Value);
        }
        return counts;
    }

    [GeneratedRegex(@"^\s*(\S+) events:\s+(\d+)")]
    private static partial Regex StatLine();

    /// <summary>Samples as token lists from `script`-shaped text: one list per line, whitespace-insensitive.</summary>
    public static List<string> Normalize(string text) =>
        text.Split('\n').Select(l => string.Join(' ', l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))).Where(l => l.Length > 0).ToList();

    public static PerfRecordType[] Types(string path)
    {
        using var reader = PerfDataReader.Open(path);
        var list = new List<PerfRecordType>();
        while (reader.TryRead(out PerfRecord r)) list.Add(r.Type);
        return [.. list];
    }
}
