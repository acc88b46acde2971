using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Record;

/// <summary>
/// `dotnet-ptrace record` against the live kernel, judged by Linux perf: every file we write must be read by
/// `perf script` / `perf report` without a warning, and show what the traced program really did.
/// </summary>
[Collection("live recording")]   // recordings share 2 CPUs; run them one at a time so rates and samples are stable
public class RecordCommandTests(ITestOutputHelper output) : IClassFixture<ScratchDirectory>
{
    private readonly ScratchDirectory _scratch = new();

    private ProcessResult Record(params string[] args)
    {
        var r = Tool.Run(["record", .. args]);
        output.WriteLine(r.ToString());
        return r;
    }

    [Fact]
    public void Cpu_clock_samples_of_a_command_are_read_by_perf_with_the_hot_function_first()
    {
        string file = _scratch.File("cpu.data");
        var r = Record("-e", "cpu-clock", "-F", "4000", "-o", file, "--", SampleBinaries.CpuBound, "600");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"\[ dotnet-ptrace record: Captured and wrote [\d.]+ MB .* \(\d+ records, \d+ samples, 0 lost\) \]", r.Stderr);

        string script = Perf.Script(file, "comm,pid,tid,event,ip,sym,dso", "--show-mmap-events");
        var samples = script.Split('\n').Where(l => l.Contains("cpu-clock")).ToList();
        // cpu-clock ticks only while the task runs, so the count depends on the machine's load; 100 is far
        // below 600 ms x 4 kHz even with a small share of a CPU, and far above what a broken recorder gives.
        Assert.True(samples.Count > 100, $"{samples.Count} samples in 600 ms at 4 kHz");
        // Every sample is the sample's own process (comm and a single pid).
        Assert.All(samples, l => Assert.StartsWith("cpu_bound", l.TrimStart()));
        var pids = samples.Select(l => Regex.Match(l, @"cpu_bound\s+(\d+)").Groups[1].Value).Distinct().ToList();
        Assert.Single(pids);
        // The MMAP2 of the binary is there, and most samples fall inside its text.
        Assert.Contains(script.Split('\n'), l => l.Contains("PERF_RECORD_MMAP2") && l.Contains(SampleBinaries.CpuBound) && l.Contains("r-xp"));
        int inBinary = samples.Count(l => l.Contains($"({SampleBinaries.CpuBound})"));
        Assert.True(inBinary > samples.Count * 0.9, $"{inBinary} of {samples.Count} samples inside {SampleBinaries.CpuBound}");

        var report = Perf.Run("report", "-i", file, "--stdio", "--sort", "sym", "-q");
        Perf.AssertClean(report, allowLost: false);
        string first = report.Stdout.Split('\n').First(l => l.Trim().Length > 0);
        Assert.Contains("hot_spin", first);
    }

    [Fact]
    public void Page_faults_with_period_one_count_every_touched_page()
    {
        string file = _scratch.File("faults.data");
        var r = Record("-e", "page-faults", "-c", "1", "-o", file, "--", SampleBinaries.TouchPages, "3000");
        Assert.Equal(0, r.ExitCode);
        string script = Perf.Script(file, "comm,event,ip,sym");
        int faults = script.Split('\n').Count(l => l.Contains("touch_pages") && l.Contains("page-faults"));
        Assert.True(faults >= 3000, $"{faults} page faults for 3000 touched pages");
    }

    [Fact]
    public void Call_graphs_are_resolved_by_perf()
    {
        string file = _scratch.File("callgraph.data");
        var r = Record("-g", "-e", "cpu-clock", "-o", file, "--", SampleBinaries.CpuBound, "300");
        Assert.Equal(0, r.ExitCode);
        string script = Perf.Script(file, "comm,ip,sym");
        // A stack shows hot_spin called from main.
        Assert.Matches(new Regex(@"hot_spin\s*\n\s+[0-9a-f]+\s+main\b"), script);
    }

    [Fact]
    public void A_tracepoint_is_recorded_with_its_raw_data()
    {
        string file = _scratch.File("tp.data");
        var r = Record("-e", "sched:sched_switch", "-o", file, "--", SampleBinaries.ForkExec, "200");
        Assert.Equal(0, r.ExitCode);
        // perf decodes the RAW payload with the formats we stored (TRACING_DATA): the fields prove both.
        string script = Perf.Script(file, "comm,pid,event,trace");
        var switches = script.Split('\n').Where(l => l.Contains("sched:sched_switch")).ToList();
        Assert.NotEmpty(switches);
        Assert.Contains(switches, l => Regex.IsMatch(l, @"prev_comm=fork_exec prev_pid=\d+ .*==> next_comm="));
    }

    [Fact]
    public void Fork_and_exec_show_up_as_comm_fork_exit_and_samples_of_both_processes()
    {
        string file = _scratch.File("fork.data");
        var r = Record("-e", "cpu-clock", "-o", file, "--", SampleBinaries.ForkExec, "300");
        Assert.Equal(0, r.ExitCode);
        string events = Perf.Script(file, "comm,pid,tid,event,ip,sym", "--show-task-events");
        var lines = events.Split('\n');
        Assert.Contains(lines, l => l.Contains("PERF_RECORD_COMM exec") && l.Contains("fork_exec"));
        Assert.Contains(lines, l => l.Contains("PERF_RECORD_FORK"));
        Assert.Contains(lines, l => l.Contains("PERF_RECORD_EXIT"));
        Assert.Contains(lines, l => l.Contains("parent_spin"));
        Assert.Contains(lines, l => l.Contains("child_spin"));
        // One line each: "comm pid/tid cpu-clock: ip symbol" (a pattern that may cross lines picks up the pid/tid
        // that ends perf's COMM lines instead).
        var parentPid = Regex.Match(events, @"^[ \t]*\S+[ \t]+(\d+)/\d+[ \t]+cpu-clock:[^\n]*parent_spin", RegexOptions.Multiline).Groups[1].Value;
        var childPid = Regex.Match(events, @"^[ \t]*\S+[ \t]+(\d+)/\d+[ \t]+cpu-clock:[^\n]*child_spin", RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEmpty(parentPid);
        Assert.NotEmpty(childPid);
        Assert.NotEqual(parentPid, childPid);
    }

    [Fact]
    public void The_exit_code_is_the_commands()
    {
        string file = _scratch.File("exit.data");
        var r = Record("-e", "task-clock", "-o", file, "--", "/bin/sh", "-c", "exit 3");
        Assert.Equal(3, r.ExitCode);
        Perf.Script(file, "comm,event");
    }

    [Fact]
    public void An_existing_output_is_kept_as_old()
    {
        string file = _scratch.File("again.data");
        Assert.Equal(0, Record("-e", "task-clock", "-o", file, "--", "/bin/true").ExitCode);
        long first = new FileInfo(file).Length;
        Assert.Equal(0, Record("-e", "task-clock", "-o", file, "--", "/bin/true").ExitCode);
        Assert.True(File.Exists(file + ".old"));
        Assert.Equal(first, new FileInfo(file + ".old").Length);
        Assert.Equal("600", Convert.ToString((int)File.GetUnixFileMode(file), 8));
    }

    [Fact]
    public void A_flooded_small_ring_reports_LOST_and_keeps_every_other_record_whole()
    {
        string file = _scratch.File("flood.data");
        // One page of ring against ~a million tracepoint hits a second: the kernel must drop, and say so.
        var r = Record("-m", "1", "-e", "syscalls:sys_enter_getppid", "-o", file, "--", SampleBinaries.SyscallFlood, "1000000");
        Assert.Equal(0, r.ExitCode);
        var summary = Regex.Match(r.Stderr, @"\((\d+) records, (\d+) samples, (\d+) events lost in (\d+) LOST records\)");
        Assert.True(summary.Success, r.Stderr);
        long samples = long.Parse(summary.Groups[2].Value), lostEvents = long.Parse(summary.Groups[3].Value), lostRecords = long.Parse(summary.Groups[4].Value);
        Assert.True(lostRecords > 0 && lostEvents > 0);

        // perf agrees on both counts; it parses every record, so none was torn where the ring wrapped.
        var stats = Perf.Run("report", "-i", file, "--stats");
        Perf.AssertClean(stats, allowLost: true);
        Assert.Equal(lostRecords, long.Parse(Regex.Match(stats.Stdout, @"LOST events:\s+(\d+)").Groups[1].Value));
        Assert.Equal(samples, long.Parse(Regex.Match(stats.Stdout, @"SAMPLE events:\s+(\d+)").Groups[1].Value));
        var script = Perf.Run("script", "-i", file, "-F", "comm,event,trace");
        Perf.AssertClean(script, allowLost: true);
        Assert.Equal(samples, script.Stdout.Split('\n').Count(l => l.Contains("syscalls:sys_enter_getppid")));
    }
}
