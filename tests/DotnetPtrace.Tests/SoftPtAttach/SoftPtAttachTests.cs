using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.SoftPtEncoder;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtAttach;

/// <summary>
/// `record --soft-pt -p PID` (and `trace --soft-pt -p`): running processes are single-stepped where they are, then
/// detached. The oracles: the kernel's own view of the target afterwards (/proc/TID/status: no tracer, not in a
/// trace stop, no signal left queued; its counter file still advancing), Linux perf's Intel PT decoder over the file
/// we wrote (`perf script --itrace=i0ns`), and the addresses ptrace single-stepping reported (the ground truth).
/// The target is samples/softpt/counter.c: a loop that counts, sleeps 1 ms every 16 rounds, and writes its count.
/// </summary>
[Collection("live recording")]
public sealed class SoftPtAttachTests(ITestOutputHelper output) : IDisposable
{
    private const int SIGINT = 2, SIGTERM = 15, SIGSTOP = 19, SIGCONT = 18;
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-attach-").FullName;
    private readonly List<Process> _targets = [];

    public void Dispose()
    {
        foreach (var p in _targets)
        {
            try { Kill(p.Id, SIGCONT); p.Kill(); p.WaitForExit(5000); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Attached_for_a_second_the_process_carries_on_and_both_decoders_give_the_ground_truth()
    {
        var (target, counter) = StartCounter(SoftPtBuild.Static, workers: 0);
        string data = Path.Combine(_dir, "one.data"), truth = Path.Combine(_dir, "one.gt");
        var r = Tool.Run(["record", "--soft-pt", "-p", Id(target), "--duration", "1", "--ground-truth", truth, "-o", data], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"attached to pid {target.Id} (1 thread)", r.Stderr);
        Assert.Contains($"detached from pid {target.Id}", r.Stderr);
        AssertRunningUntraced(target, counter, threads: 1);
        AssertDecodesToGroundTruth(data, truth, threads: 1);
    }

    [Fact]
    public void Every_thread_of_a_multithreaded_process_is_traced_and_detached()
    {
        // PIE and dynamically linked: the code of libc and the loader is found from the mappings at attach time.
        var (target, counter) = StartCounter(SoftPtBuild.Pie, workers: 3);
        string data = Path.Combine(_dir, "threads.data"), truth = Path.Combine(_dir, "threads.gt");
        var r = Tool.Run(["record", "--soft-pt", "-p", Id(target), "--duration", "1", "--ground-truth", truth, "-o", data], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"attached to pid {target.Id} (4 threads)", r.Stderr);
        AssertRunningUntraced(target, counter, threads: 4);
        AssertDecodesToGroundTruth(data, truth, threads: 4);
    }

    [Fact]
    public async Task SIGINT_stops_and_detaches_and_a_second_tracer_is_refused_meanwhile()
    {
        var (target, counter) = StartCounter(SoftPtBuild.Static, workers: 1);
        string data = Path.Combine(_dir, "int.data");
        using var recorder = Tool.Start(["record", "--soft-pt", "-p", Id(target), "-o", data]);
        var stderr = recorder.StandardError.ReadToEndAsync();
        var stdout = recorder.StandardOutput.ReadToEndAsync();
        WaitFor(() => ThreadStatusOf(target.Id).TracerPid != 0, "the recorder to attach");

        // A process has one tracer: a second attach is one clear line naming the first, and exit 2.
        var second = Tool.Run(["record", "--soft-pt", "-p", Id(target), "-o", Path.Combine(_dir, "second.data")], TimeSpan.FromSeconds(30));
        output.WriteLine(second.ToString());
        Assert.Equal(2, second.ExitCode);
        string line = Assert.Single(second.Stderr.Trim().Split('\n'));
        Assert.Contains($"cannot attach to pid {target.Id}: it is already traced by pid {recorder.Id}", line);
        Assert.False(File.Exists(Path.Combine(_dir, "second.data")));

        Thread.Sleep(300);
        Assert.Equal(0, Kill(recorder.Id, SIGINT));
        Assert.True(recorder.WaitForExit(TimeSpan.FromSeconds(30)), "the recorder did not stop on SIGINT");
        string err = await stderr;
        output.WriteLine(err + await stdout);
        Assert.Equal(0, recorder.ExitCode);
        Assert.Contains($"detached from pid {target.Id}", err);
        AssertRunningUntraced(target, counter, threads: 2);
        var decode = Tool.Run(["decode", "-i", data, "--format", "addresses"]);
        Assert.Equal(0, decode.ExitCode);
        Assert.Contains(" 0 errors", decode.Stderr);
        Assert.Contains("# pid", decode.Stdout);
    }

    [Fact]
    public async Task A_stop_signal_that_arrives_while_traced_stops_the_process_after_the_detach()
    {
        var (target, counter) = StartCounter(SoftPtBuild.Static, workers: 0);
        using var recorder = Tool.Start(["record", "--soft-pt", "-p", Id(target), "--duration", "1.5", "-o", Path.Combine(_dir, "stop.data")]);
        var stderr = recorder.StandardError.ReadToEndAsync();
        WaitFor(() => ThreadStatusOf(target.Id).TracerPid != 0, "the recorder to attach");
        Assert.Equal(0, Kill(target.Id, SIGSTOP));
        Assert.True(recorder.WaitForExit(TimeSpan.FromSeconds(30)));
        output.WriteLine(await stderr);
        Assert.Equal(0, recorder.ExitCode);
        // Withheld while stepping (job control would freeze the trace), the stop takes effect once we let go...
        var status = ThreadStatusOf(target.Id);
        Assert.Equal(0, status.TracerPid);
        Assert.Equal('T', status.State);
        ulong stopped = ReadCounter(counter);
        Thread.Sleep(200);
        Assert.Equal(stopped, ReadCounter(counter));
        // ...and SIGCONT resumes it as usual.
        Assert.Equal(0, Kill(target.Id, SIGCONT));
        AssertRunningUntraced(target, counter, threads: 1);
    }

    [Fact]
    public void A_process_stopped_by_job_control_is_left_stopped_and_resumes_on_SIGCONT()
    {
        var (target, counter) = StartCounter(SoftPtBuild.Static, workers: 1);
        Assert.Equal(0, Kill(target.Id, SIGSTOP));
        WaitFor(() => ThreadStatusOf(target.Id).State == 'T', "the target to stop");
        var r = Tool.Run(["record", "--soft-pt", "-p", Id(target), "--duration", "1", "-o", Path.Combine(_dir, "stopped.data")], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("it is stopped (job control)", r.Stderr);
        foreach (string task in Directory.GetDirectories($"/proc/{target.Id}/task"))
        {
            var s = ThreadStatusOf(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture));
            Assert.Equal(0, s.TracerPid);
            Assert.Equal('T', s.State);
        }
        Assert.Equal(0, Kill(target.Id, SIGCONT));
        AssertRunningUntraced(target, counter, threads: 2);
    }

    [Fact]
    public void Trace_soft_pt_attaches_decodes_and_detaches()
    {
        var (target, counter) = StartCounter(SoftPtBuild.Static, workers: 0);
        var r = Tool.Run(["trace", "--soft-pt", "-p", Id(target), "--duration", "0.5", "--format", "calls"], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("spin", r.Stdout);   // counter.c's loop, by name from its symbols
        Assert.Contains(" 0 errors", r.Stderr);
        AssertRunningUntraced(target, counter, threads: 1);
    }

    [Fact]
    public void Pids_that_cannot_be_attached_to_get_one_line_and_a_failing_status()
    {
        // A pid that existed and is gone.
        using var gone = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
        gone.WaitForExit();
        AssertOneLineFailure(["-p", Id(gone)], 1, $"-p {gone.Id}: no such process");

        // A zombie: a forked child that exits at once, with a parent that never reaps it (perl is in every Debian).
        var parent = StartTarget("/usr/bin/perl", "-e", "$| = 1; my $p = fork; exit 0 unless $p; print \"$p\\n\"; sleep 30");
        int zombie = int.Parse(parent.StandardOutput.ReadLine()!, CultureInfo.InvariantCulture);
        WaitFor(() => ThreadStatusOf(zombie).State == 'Z', "the zombie");
        AssertOneLineFailure(["-p", zombie.ToString(CultureInfo.InvariantCulture)], 1, "zombie");

        // A thread id is not a process id.
        var (target, _) = StartCounter(SoftPtBuild.Static, workers: 1);
        WaitFor(() => Directory.GetDirectories($"/proc/{target.Id}/task").Length == 2, "the worker thread");
        int worker = Directory.GetDirectories($"/proc/{target.Id}/task").Select(d => int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture)).First(t => t != target.Id);
        AssertOneLineFailure(["-p", worker.ToString(CultureInfo.InvariantCulture)], 1, $"give -p {target.Id}");

        // Options that do not go with attaching are usage errors before anything is touched.
        AssertOneLineFailure(["-p", Id(target), "-D", "100"], 1, "-D/--delay");
        Assert.Equal(0, ThreadStatusOf(target.Id).TracerPid);
    }

    private void AssertOneLineFailure(string[] args, int exitCode, string named)
    {
        string file = Path.Combine(_dir, "failed.data");
        var r = Tool.Run(["record", "--soft-pt", "-o", file, .. args], TimeSpan.FromSeconds(30));
        output.WriteLine(r.ToString());
        Assert.Equal(exitCode, r.ExitCode);
        Assert.Contains(named, r.Stderr);
        if (!r.Stderr.Contains("Usage:", StringComparison.Ordinal)) Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(file));
    }

    // ---- the oracles ----

    /// <summary>The kernel's word: every thread has no tracer, is not in a trace stop, has nothing queued; and the count still goes up.</summary>
    private static void AssertRunningUntraced(Process target, string counter, int threads)
    {
        Assert.False(target.HasExited, "the target died");
        string[] tasks = Directory.GetDirectories($"/proc/{target.Id}/task");
        Assert.Equal(threads, tasks.Length);
        foreach (string task in tasks)
        {
            var s = ThreadStatusOf(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture));
            Assert.True(s.TracerPid == 0, $"{task}: TracerPid {s.TracerPid}");
            Assert.True(s.State is not ('t' or 'T' or 'Z'), $"{task}: state {s.State}");
            Assert.True(s.Pending == 0, $"{task}: signals left queued: SigPnd {s.Pending:x}");
        }
        ulong before = ReadCounter(counter);
        WaitFor(() => ReadCounter(counter) > before, "the counter to advance after the detach");
        Assert.False(target.HasExited, "the target died");
    }

    /// <summary>Our decoder and perf's each list, per thread, exactly the addresses single-stepping saw run.</summary>
    private void AssertDecodesToGroundTruth(string data, string truth, int threads)
    {
        var expected = GroundTruthReader.Read(truth).Where(t => t.Addresses.Length > 0).ToList();
        Assert.Equal(threads, expected.Count);
        Assert.All(expected, t => Assert.True(t.Addresses.Length > 100, $"tid {t.Tid}: only {t.Addresses.Length} instructions traced"));

        var ours = Tool.Run(["decode", "-i", data, "--format", "addresses"]);
        Assert.Equal(0, ours.ExitCode);
        Assert.Contains(" 0 errors", ours.Stderr);
        var decoded = new Dictionary<int, List<ulong>>();
        List<ulong>? current = null;
        foreach (string line in ours.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# pid", StringComparison.Ordinal))
            {
                int tid = int.Parse(line.Split(' ')[^1], CultureInfo.InvariantCulture);
                if (!decoded.TryGetValue(tid, out current)) decoded[tid] = current = [];
            }
            else current!.Add(ulong.Parse(line.Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        foreach (var t in expected)
            SoftPtTestSupport.AssertSameAddresses(t.Addresses, decoded.GetValueOrDefault(t.Tid) ?? [], $"our decode, tid {t.Tid}");

        var perf = Perf.Run("script", "-i", data, "--itrace=i0ns", "-F", "tid,ip");
        Perf.AssertClean(perf, allowLost: false);
        var byPerf = new Dictionary<int, List<ulong>>();
        foreach (string line in perf.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int tid = int.Parse(f[0], CultureInfo.InvariantCulture);
            if (!byPerf.TryGetValue(tid, out var list)) byPerf[tid] = list = [];
            list.Add(ulong.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        foreach (var t in expected)
            SoftPtTestSupport.AssertSameAddresses(t.Addresses, byPerf.GetValueOrDefault(t.Tid) ?? [], $"perf, tid {t.Tid}");
        var errors = Perf.Run("script", "-i", data, "--itrace=e");
        Perf.AssertClean(errors, allowLost: false);
        Assert.Equal("", errors.Stdout.Trim());
        output.WriteLine($"{expected.Count} threads, {expected.Sum(t => t.Addresses.Length)} instructions agree");
    }

    // ---- the target ----

    private (Process Target, string Counter) StartCounter(SoftPtBuild build, int workers)
    {
        string counter = Path.Combine(_dir, $"counter-{Guid.NewGuid():N}.txt");
        var target = StartTarget(SoftPtSamples.Path("counter", build), counter, workers.ToString(CultureInfo.InvariantCulture));
        WaitFor(() => File.Exists(counter) && ReadCounter(counter) > 0 && Directory.GetDirectories($"/proc/{target.Id}/task").Length == workers + 1, "the target to start counting");
        return (target, counter);
    }

    private Process StartTarget(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _targets.Add(p);
        return p;
    }

    private static ulong ReadCounter(string file)
    {
        try { return ulong.TryParse(File.ReadAllText(file).Trim(), out ulong n) ? n : 0; }
        catch (IOException) { return 0; }
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException($"waited 20 s for {what}");
            Thread.Sleep(20);
        }
    }

    private readonly record struct Status(char State, int TracerPid, ulong Pending);

    /// <summary>/proc/TID/status read here, not through the code under test.</summary>
    private static Status ThreadStatusOf(int tid)
    {
        char state = '?';
        int tracer = -1;
        ulong pending = 0;
        try
        {
            foreach (string line in File.ReadLines($"/proc/{tid}/status"))
            {
                string value = line[(line.IndexOf(':') + 1)..].Trim();
                if (line.StartsWith("State:", StringComparison.Ordinal)) state = value[0];
                else if (line.StartsWith("TracerPid:", StringComparison.Ordinal)) tracer = int.Parse(value, CultureInfo.InvariantCulture);
                else if (line.StartsWith("SigPnd:", StringComparison.Ordinal) || line.StartsWith("ShdPnd:", StringComparison.Ordinal))
                    pending |= ulong.Parse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        catch (IOException) { }
        return new Status(state, tracer, pending);
    }

    private static string Id(Process p) => p.Id.ToString(CultureInfo.InvariantCulture);

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
