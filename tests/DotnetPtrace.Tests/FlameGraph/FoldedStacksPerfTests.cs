using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.FlameGraph;

/// <summary>
/// report --folded gives the stacks Linux perf sees in the same file: perf script prints every sample's callchain
/// (perf's own stack walking and symbols), this test folds them the way stackcollapse-perf.pl --all documents
/// (process name first, offsets stripped, "[dso]" for unknown symbols: the whole name, which the script's regex
/// cuts when it holds parentheses; "_[k]" on kernel frames) and the two
/// must agree stack by stack and count by count.
/// </summary>
public sealed partial class FoldedStacksPerfTests(ITestOutputHelper log)
{
    [Fact]
    public void Folded_stacks_equal_perf_scripts_stacks_collapsed()
    {
        var files = WorkRatioRecording.Get();
        string ours = File.ReadAllText(files.Folded);
        var expected = Collapse(Perf.Script(files.Data, "comm,pid,tid,period,event,ip,sym,dso"));
        var actual = WorkRatioRecording.ParseFolded(ours).ToDictionary(l => string.Join(';', l.Frames), l => l.Count);
        log.WriteLine(ours);
        foreach (var (stack, count) in expected.Where(e => actual.GetValueOrDefault(e.Key) != e.Value))
            log.WriteLine($"perf: {stack} {count}, ours: {actual.GetValueOrDefault(stack)}");
        foreach (var (stack, count) in actual.Where(a => !expected.ContainsKey(a.Key)))
            log.WriteLine($"only ours: {stack} {count}");
        AssertSameStacks(expected, actual);
        // The lines are sorted as stackcollapse-perf.pl sorts them (perl's cmp: byte order).
        var lines = ours.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..l.LastIndexOf(' ')]).ToList();
        Assert.Equal(lines.OrderBy(l => l, StringComparer.Ordinal), lines);
        Assert.Contains(actual.Keys, k => k.EndsWith(";main;work_3x", StringComparison.Ordinal));
    }

    [Fact]
    public void Folded_to_stdout_matches_the_file_and_weighs_by_period_on_request()
    {
        var files = WorkRatioRecording.Get();
        var stdout = Tool.Run(["report", "-i", files.Data, "--folded", "-"]);
        Assert.True(stdout.ExitCode == 0, stdout.ToString());
        Assert.Equal(File.ReadAllText(files.Folded), stdout.Stdout);
        // --weight period: each stack weighs the sum of its samples' periods, as perf script prints them.
        var periods = Tool.Run(["report", "-i", files.Data, "--folded", "-", "--weight", "period"]);
        Assert.True(periods.ExitCode == 0, periods.ToString());
        var expected = Collapse(Perf.Script(files.Data, "comm,pid,tid,period,event,ip,sym,dso"), byPeriod: true);
        var actual = WorkRatioRecording.ParseFolded(periods.Stdout).ToDictionary(l => string.Join(';', l.Frames), l => l.Count);
        AssertSameStacks(expected, actual);
    }

    /// <summary>
    /// Equal stack for stack and count for count, PLT stubs included (perf's "name@plt" symbols, which our ELF reader
    /// synthesises from the relocations as perf does; a sample in the loader's startup hits one now and then).
    /// </summary>
    private void AssertSameStacks(Dictionary<string, long> expected, Dictionary<string, long> actual)
    {
        foreach (var (stack, count) in expected.Where(e => e.Key.Split(';').Any(f => f.EndsWith("@plt", StringComparison.Ordinal))))
            log.WriteLine($"perf names a PLT stub: {stack} {count}");
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), actual.OrderBy(a => a.Key, StringComparer.Ordinal));
    }

    /// <summary>perf script text (header line, then one "addr sym (dso)" line per frame, leaf first) folded.</summary>
    private static Dictionary<string, long> Collapse(string script, bool byPeriod = false)
    {
        var stacks = new Dictionary<string, long>(StringComparer.Ordinal);
        var frames = new List<string>();
        string? comm = null;
        long weight = 0;
        void Flush()
        {
            if (comm is null) return;
            frames.Add(comm.Replace(' ', '_'));   // the header regex already dropped trailing blanks
            frames.Reverse();
            string key = string.Join(';', frames);
            stacks[key] = stacks.GetValueOrDefault(key) + weight;
            frames.Clear();
            comm = null;
        }
        foreach (string line in script.Split('\n'))
        {
            if (line.Length == 0) { Flush(); continue; }
            if (Header().Match(line) is { Success: true } h)
            {
                Flush();
                comm = h.Groups[1].Value;
                weight = byPeriod ? long.Parse(h.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : 1;
                continue;
            }
            var m = StackLine().Match(line);
            Assert.True(m.Success, $"unexpected perf script line: {line}");
            // "sym (dso)": the DSO is the last balanced parenthesis, since it may hold some itself ("/memfd:x (deleted)").
            string rest = m.Groups[1].Value;
            int open = rest.Length - 1;
            for (int depth = 0; ; open--)
            {
                depth += rest[open] == ')' ? 1 : rest[open] == '(' ? -1 : 0;
                if (depth == 0) break;
            }
            string func = OffsetSuffix().Replace(rest[..(open - 1)], "");
            string dso = rest[(open + 1)..^1];
            if (func == "[unknown]")
                func = dso != "[unknown]" ? $"[{Path.GetFileName(dso)}]" : "[unknown]";
            else
            {
                func = func.Replace(';', ':');
                int paren = func.IndexOf('(');
                if (paren >= 0 && !func.Contains(".(")) func = func[..paren];
            }
            if ((dso.StartsWith('[') || dso.EndsWith("vmlinux")) && !dso.Contains("unknown")) func += "_[k]";
            else if (JitMap().IsMatch(dso)) func += "_[j]";
            frames.Add(func);
        }
        Flush();
        return stacks;
    }

    [GeneratedRegex(@"^(\S.*?)\s+-?\d+/-?\d+\s+(\d+)\s+\S+:\s*$")]
    private static partial Regex Header();

    [GeneratedRegex(@"^\s+[0-9a-f]+ (.+\))$")]
    private static partial Regex StackLine();

    [GeneratedRegex(@"\+0x[0-9a-f]+$")]
    private static partial Regex OffsetSuffix();

    [GeneratedRegex(@"^/tmp/perf-\d+\.map$")]
    private static partial Regex JitMap();
}
