using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.Reading;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Pipe;

/// <summary>
/// `dotnet-ptrace record -o -` writes a perf.data pipe-mode stream that Linux perf reads through a pipe as it reads
/// its own (`perf record -o -`), and that holds what a file-mode recording holds. The oracle is perf 6.1 (script,
/// report -D, report --stats, report --header-only, buildid-list) and readelf for build-ids.
/// (perf's own pipe stream read by our `script -i -` is Reading/RoundTripTests.Perf_pipe_mode_read_from_stdin_gives_the_same_samples.)
/// </summary>
[Collection("live recording")]
public sealed partial class RecordToStdoutTests(ITestOutputHelper log) : IDisposable
{
    private const string Fields = "comm,pid,tid,time,period,event,ip,sym,dso";
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-pipe-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Stream(string name) => Path.Combine(_dir, name);

    /// <summary>Records the sample into a pipe (`| cat &gt; file`, so the writer never sees a seekable stdout).</summary>
    private string RecordToPipe(string name, string events, string command)
    {
        string stream = Stream(name);
        var r = PipeShell.Run($"{PipeShell.Tool} record -q -o - {events} -- {command} | cat > '{stream}'");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(new FileInfo(stream).Length > 16, "no stream");
        return stream;
    }

    [Fact]
    public void Perf_reads_our_stream_straight_from_the_pipe()
    {
        // The whole pipeline, no file between: both ends exit 0 and perf shows the program's samples by symbol.
        var r = PipeShell.Run($"{PipeShell.Tool} record -q -o - -e cpu-clock -- '{SampleBinaries.CpuBound}' 300 | {PipeShell.Perf} script -F comm,ip,sym -i -");
        Assert.True(r.ExitCode == 0, r.ToString());
        Perf.AssertClean(r, allowLost: false);
        var lines = TestDataFiles.Normalize(r.Stdout);
        Assert.True(lines.Count(l => l.StartsWith("cpu_bound ", StringComparison.Ordinal) && l.EndsWith(" hot_spin", StringComparison.Ordinal)) > 50, $"too few hot_spin samples:\n{r.Stdout[..Math.Min(2000, r.Stdout.Length)]}");
    }

    [Fact]
    public void Perf_and_our_readers_agree_on_the_stream()
    {
        string stream = RecordToPipe("cpu.pipe", "-e cpu-clock", $"'{SampleBinaries.CpuBound}' 300");

        // perf: every record processed without a complaint (report -D walks all of them), samples with comm and symbols.
        var dump = PipeShell.PerfOn(stream, "report -D");
        Assert.Contains("PERF_RECORD_ATTR", dump.Stdout);
        Assert.Contains("PERF_RECORD_FEATURE", dump.Stdout);
        var perf = TestDataFiles.Normalize(PipeShell.PerfOn(stream, $"script -G -F {Fields}").Stdout);
        Assert.True(perf.Count(l => l.StartsWith("cpu_bound ", StringComparison.Ordinal) && l.Contains(" hot_spin ")) > 50, "perf sees too few hot_spin samples");

        // Ours, from stdin: script prints perf's samples field for field; report and dump read it all.
        var ours = TestDataFiles.Normalize(PipeShell.ToolOn(stream, $"script -F {Fields}").Stdout);
        Assert.Equal(perf.Count, ours.Count);
        for (int i = 0; i < perf.Count; i++)
            Assert.True(perf[i] == ours[i], $"sample {i} differs:\nperf: {perf[i]}\nours: {ours[i]}");
        var report = PipeShell.ToolOn(stream, "report");
        Assert.Matches(@"\d+\.\d+%\s.*hot_spin", report.Stdout);
        var ourDump = PipeShell.ToolOn(stream, "dump");
        Assert.Contains("PERF_RECORD_HEADER_ATTR", ourDump.Stdout);
        Assert.DoesNotContain("error", ourDump.Stderr, StringComparison.OrdinalIgnoreCase);
        log.WriteLine($"{perf.Count} samples; {new FileInfo(stream).Length} bytes");
    }

    [Fact]
    public void The_stream_holds_what_a_file_recording_holds()
    {
        string file = Stream("cpu.data");
        var rec = Tool.Run(["record", "-q", "-e", "cpu-clock", "-o", file, "--", SampleBinaries.CpuBound, "200"]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        string stream = RecordToPipe("cpu.pipe", "-e cpu-clock", $"'{SampleBinaries.CpuBound}' 200");

        // Record types, as perf counts them: the same, plus what only a pipe has (attrs, features, build-ids as records).
        var fileTypes = TestDataFiles.PerfStats(file)!.Keys.ToHashSet();
        var pipeStats = PerfStatsOfStream(stream);
        string[] pipeOnly = ["ATTR", "FEATURE", "BUILD_ID"];
        foreach (string t in pipeOnly) Assert.True(pipeStats.ContainsKey(t), $"no {t} records in the stream");
        Assert.Equal(fileTypes.Order(), pipeStats.Keys.Except(pipeOnly).Order());
        Assert.Contains("FINISHED_INIT", fileTypes);

        // Attrs and features as perf prints them (ids and the -o argument differ between the two runs).
        Assert.Equal(HeaderFacts(Perf.Run("report", "--header-only", "-i", file).Stdout),
            HeaderFacts(PipeShell.PerfOn(stream, "report --header-only").Stdout));

        // Build-ids (HEADER_BUILD_ID records at the end): the binaries samples hit, each with the id readelf reads
        // from it. (Which libraries a run hits varies, so the list is not compared with the file's.)
        var ids = BuildIdLines(PipeShell.PerfOn(stream, "buildid-list").Stdout);
        Assert.Contains($"{ReadElfBuildId(SampleBinaries.CpuBound)} {SampleBinaries.CpuBound}", ids);
        foreach (string line in ids)
        {
            string[] f = line.Split(' ', 2);
            if (File.Exists(f[1])) Assert.Equal(ReadElfBuildId(f[1]), f[0]);
        }
    }

    [Fact]
    public void Tracepoints_bring_their_tracing_data_as_a_record()
    {
        // HEADER_TRACING_DATA (its bytes follow the record): without it perf could not format the tracepoint fields.
        string stream = RecordToPipe("tp.pipe", "-e sched:sched_process_exec", $"'{SampleBinaries.CpuBound}' 20");
        var perf = PipeShell.PerfOn(stream, "script");
        Assert.Matches($@"cpu_bound\s+\d+ .*sched:sched_process_exec: filename={Regex.Escape(SampleBinaries.CpuBound)} pid=\d+", perf.Stdout);
        Assert.Contains("TRACING_DATA", PerfStatsOfStream(stream).Keys);
        // Our reader steps over the tracing data to the records after it.
        var ours = PipeShell.ToolOn(stream, "script");
        Assert.Contains("sched:sched_process_exec", ours.Stdout);
    }

    private static Dictionary<string, long> PerfStatsOfStream(string stream)
    {
        var r = PipeShell.PerfOn(stream, "report --stats");
        var counts = new Dictionary<string, long>();
        foreach (string line in r.Stdout[r.Stdout.IndexOf("Aggregated stats:", StringComparison.Ordinal)..].Split('\n').Skip(1))
        {
            if (line.TrimEnd().EndsWith("stats:", StringComparison.Ordinal)) break;
            var m = StatLine().Match(line);
            if (m.Success && m.Groups[1].Value != "TOTAL") counts[m.Groups[1].Value] = long.Parse(m.Groups[2].Value);
        }
        return counts;
    }

    /// <summary>"# key : value" lines of perf's header listing that describe the recording, not the file layout.</summary>
    private static List<string> HeaderFacts(string text)
    {
        string[] layout = ["captured on", "header version", "data offset", "data size", "feat offset", "missing features"];
        return text.Split('\n')
            .Where(l => l.StartsWith("# ", StringComparison.Ordinal) && l.Contains(" : ") && !layout.Any(k => l.StartsWith("# " + k, StringComparison.Ordinal)))
            .Select(l => Ids().Replace(l, "id = {}"))
            .Select(l => l.StartsWith("# cmdline", StringComparison.Ordinal) ? "# cmdline" : l)
            .ToList();
    }

    /// <summary>"BUILD-ID PATH" lines of perf buildid-list (anything else perf prints, such as a warning, is not one).</summary>
    private static List<string> BuildIdLines(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).Where(l => Regex.IsMatch(l, "^[0-9a-f]{2,} \\S")).Order()];

    private static string ReadElfBuildId(string binary)
    {
        var r = ProcessRunner.Run("readelf", ["-n", binary], TimeSpan.FromSeconds(30));
        return BuildIdNote().Match(r.Stdout).Groups[1].Value;
    }

    [GeneratedRegex(@"^\s*(\S+) events:\s+(\d+)")]
    private static partial Regex StatLine();

    [GeneratedRegex(@"id = \{[^}]*\}")]
    private static partial Regex Ids();

    [GeneratedRegex(@"Build ID: ([0-9a-f]+)")]
    private static partial Regex BuildIdNote();
}
