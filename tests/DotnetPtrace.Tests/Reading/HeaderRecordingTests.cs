using DotnetPtrace.Decoders.PerfData.Features;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// Files perf 6.1 records on this machine, each made to carry features the shared files lack (CLOCKID and
/// CLOCK_DATA, GROUP_DESC, STAT, TRACING_DATA, COMPRESSED, DIR_FORMAT, pipe mode, today's CPU/NUMA/cache/memory
/// topology): `dump --header` prints them as `perf report --header-only -I` does.
/// </summary>
public sealed class HeaderRecordingTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ptrace-header-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string> Recordings => new()
    {
        { "plain", "record -o {0} -- true" },
        { "clock-and-group", "record -k mono -e {{cpu-clock,task-clock}} -o {0} -- true" },
        { "stat", "stat record -o {0} -- true" },
        { "tracepoint", "record -e sched:sched_process_exec -o {0} -- true" },
        { "compressed", "record -z -o {0} -- true" },
        { "pipe", "record -o - -- true > {0}" },
        { "threads-directory", "record --threads -o {0} -- true" },
    };

    [Theory]
    [MemberData(nameof(Recordings))]
    public void Fresh_recording_header_matches_perf(string name, string perfArgs)
    {
        string file = Path.Combine(_dir, name + ".data");
        if (!Record(perfArgs, file)) return;
        // A --threads recording is a directory; perf reads its header from the "data" file inside.
        string ourInput = Directory.Exists(file) ? Path.Combine(file, "data") : file;
        string ours = HeaderOracle.Ours(ourInput);
        string? perf = HeaderOracle.Perf(file, log);
        Assert.NotNull(perf);
        HeaderOracle.AssertSameAsPerf(perf!, ours, log);
        if (!name.Contains("pipe", StringComparison.Ordinal))
            Assert.Equal(HeaderOracle.PerfBuildIds(file), HeaderOracle.OurBuildIds(ours));
        log.WriteLine(ours);
    }

    /// <summary>The tracing data lists every tracepoint event perf names in EVENT_DESC.</summary>
    [Fact]
    public void Tracing_data_holds_the_recorded_tracepoints()
    {
        string file = Path.Combine(_dir, "tp.data");
        if (!Record("record -e sched:sched_process_exec -e sched:sched_process_exit -o {0} -- true", file)) return;
        string ours = HeaderOracle.Ours(file);
        string perf = HeaderOracle.Perf(file, log)!;
        var tracepoints = HeaderOracle.Lines(perf).Where(l => l.StartsWith("# event : name = ", StringComparison.Ordinal))
            .Select(l => l["# event : name = ".Length..l.IndexOf(',', StringComparison.Ordinal)]).ToList();
        Assert.Equal(2, tracepoints.Count);
        string events = HeaderOracle.Lines(ours).Single(l => l.Contains(" events: ", StringComparison.Ordinal) && l.StartsWith(TracingDataSummary.OwnLinePrefix, StringComparison.Ordinal));
        log.WriteLine(events);
        var listed = events[(events.IndexOf(" events: ", StringComparison.Ordinal) + 9)..].Split(' ');
        Assert.All(tracepoints, tp => Assert.Contains(tp, listed));
    }

    private bool Record(string perfArgs, string file)
    {
        string command = $"{Perf.Executable} {string.Format(System.Globalization.CultureInfo.InvariantCulture, perfArgs, file)}";
        var r = ProcessRunner.Run("/bin/sh", ["-c", command], TimeSpan.FromSeconds(60), workingDirectory: _dir);
        if (r.ExitCode != 0 || !(File.Exists(file) || Directory.Exists(file)))
        {
            log.WriteLine($"SKIPPED: `{command}` failed here (exit {r.ExitCode}): {r.Stderr.Trim()}");
            return false;
        }
        return true;
    }
}
