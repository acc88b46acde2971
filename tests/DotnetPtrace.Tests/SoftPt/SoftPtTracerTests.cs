using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Native;
using DotnetPtrace.Native.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using static DotnetPtrace.Tests.SoftPt.SoftPtTestSupport;

namespace DotnetPtrace.Tests.SoftPt;

/// <summary>
/// The single-step tracer on real programs. Oracles: objdump/nm (gcc's binutils) for addresses, Iced for what
/// each instruction can do next, the programs' own output (pids, tids, counts), and the kernel's vDSO bytes.
/// In the live-recording collection: single-stepping keeps a CPU busy, which would disturb the rate-sensitive
/// recording tests if they ran beside it. The tracer waits only on its own tids, so it takes no other test's
/// child statuses.
/// </summary>
[Collection("live recording")]
public class SoftPtTracerTests(ITestOutputHelper log)
{
    [Fact]
    public void A_program_without_libc_runs_exactly_the_instructions_its_disassembly_gives()
    {
        string bin = SoftPtSamples.NoStdlib("loop");
        var (rec, _) = Trace(log, bin);

        var expected = LoopInstructions(bin);
        var thread = Assert.Single(rec.Threads);
        Assert.Equal(expected, Instructions(thread));
        ulong last = thread.Steps[thread.Steps.Count - 1];
        Assert.Equal(StepMarker.Kind.Exit, StepMarker.KindOf(last));
        Assert.Equal(7UL, StepMarker.ArgumentOf(last));
        Assert.Equal(7, rec.ExitCode);
        var exit = Assert.Single(rec.Sideband, e => e.Kind == SidebandKind.Exit);
        Assert.Equal(7, exit.ExitCode);
        Assert.Equal(thread.Tid, exit.Tid);
        var exec = Assert.Single(rec.Sideband, e => e.Kind == SidebandKind.Exec);
        Assert.Equal(Path.GetFullPath(bin), exec.Path);
        Assert.Equal("loop", exec.Comm);
        CheckTime(rec);
    }

    [Theory]
    [InlineData(SoftPtBuild.Pie)]
    [InlineData(SoftPtBuild.NoPie)]
    [InlineData(SoftPtBuild.Static)]
    public void Every_step_of_a_C_program_is_an_instruction_that_can_follow_the_one_before(SoftPtBuild build)
    {
        string bin = SoftPtSamples.Path("control_flow", build);
        string native = ProcessRunner.Run(bin, [], TimeSpan.FromSeconds(30)).Stdout;
        var (rec, stdout) = Trace(log, bin);
        Assert.Equal(native, stdout);   // single-stepping must not change what the program does
        Assert.Equal(0, rec.ExitCode);

        long n = CheckFlow(rec);
        log.WriteLine($"{n} instructions checked by Iced");
        CheckTime(rec);

        // Counts the source fixes: depth(100) is entered 101 times, classify 16 times, jump_back 3 times.
        var thread = Assert.Single(rec.Threads);
        var symbols = Symbols(bin);
        ulong bias = LoadBias(rec, bin, thread.Pid);
        var executed = Instructions(thread);
        Assert.Equal(101, executed.Count(a => a == symbols["depth"] + bias));
        Assert.Equal(16, executed.Count(a => a == symbols["classify"] + bias));
        Assert.Equal(3, executed.Count(a => a == symbols["jump_back"] + bias));
    }

    [Fact]
    public void A_delivered_signal_is_marked_before_its_handler_and_a_faulting_instruction_is_not_logged()
    {
        string bin = SoftPtSamples.Path("signals", SoftPtBuild.Static);
        var (rec, stdout) = Trace(log, bin);
        Assert.Equal("usr1 2 segv 1\n", stdout);
        Assert.Equal(0, rec.ExitCode);
        var thread = Assert.Single(rec.Threads);
        var symbols = Symbols(bin);
        var poke = Disassembly(bin, "poke");
        int store = poke.FindIndex(i => i.Text.StartsWith("movl", StringComparison.Ordinal) && i.Text.EndsWith("(%rax)", StringComparison.Ordinal));
        Assert.True(store > 0, "objdump shows no store through %rax in poke");

        var steps = thread.Steps.AsSpan().ToArray();
        var signals = Enumerable.Range(0, steps.Length)
            .Where(i => StepMarker.IsMarker(steps[i]) && StepMarker.KindOf(steps[i]) == StepMarker.Kind.Signal).ToList();
        Assert.Equal([10UL, 10UL, 11UL], signals.Select(i => StepMarker.ArgumentOf(steps[i])));
        Assert.Equal(symbols["on_usr1"], steps[signals[0] + 1]);
        Assert.Equal(symbols["on_usr1"], steps[signals[1] + 1]);
        Assert.Equal(symbols["on_segv"], steps[signals[2] + 1]);
        Assert.Equal(poke[store - 1].Address, steps[signals[2] - 1]);   // the load before the store ran; the store did not
        Assert.DoesNotContain(poke[store].Address, steps);
        CheckFlow(rec);
        CheckTime(rec);
    }

    [Fact]
    public void A_program_killed_by_SIGSEGV_ends_with_exit_139_before_the_faulting_instruction()
    {
        string bin = SoftPtSamples.Path("signals", SoftPtBuild.Static);
        var (rec, _) = Trace(log, bin, "die");
        Assert.Equal(139, rec.ExitCode);
        var thread = Assert.Single(rec.Threads);
        var poke = Disassembly(bin, "poke");
        int store = poke.FindIndex(i => i.Text.StartsWith("movl", StringComparison.Ordinal));
        var executed = Instructions(thread);
        Assert.Equal(poke[store - 1].Address, executed[^1]);
        ulong last = thread.Steps[thread.Steps.Count - 1];
        Assert.Equal(StepMarker.Kind.Exit, StepMarker.KindOf(last));
        Assert.Equal(139UL, StepMarker.ArgumentOf(last));
        Assert.Equal(139, Assert.Single(rec.Sideband, e => e.Kind == SidebandKind.Exit).ExitCode);
    }

    [Fact]
    public void Two_threads_get_one_log_each_with_the_tids_the_program_prints()
    {
        string bin = SoftPtSamples.Path("threads", SoftPtBuild.Static);
        var (rec, stdout) = Trace(log, bin);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var main = lines[0].Split(' ');
        Assert.Equal("main", main[0]);
        int pid = int.Parse(main[1]), mainTid = int.Parse(main[2]);
        var threadTids = lines.Skip(1).Select(l => int.Parse(l.Split(' ')[1])).ToList();
        Assert.Equal(2, threadTids.Count);
        Assert.Equal(mainTid, threadTids[1]);
        int workerTid = threadTids[0];

        Assert.Equal(0, rec.ExitCode);
        Assert.Equal(2, rec.Threads.Count);
        Assert.All(rec.Threads, t => Assert.Equal(pid, t.Pid));
        Assert.Equal([mainTid, workerTid], rec.Threads.Select(t => t.Tid));
        var fork = Assert.Single(rec.Sideband, e => e.Kind == SidebandKind.Fork);
        Assert.Equal((pid, workerTid, pid, mainTid), (fork.Pid, fork.Tid, fork.ParentPid, fork.ParentTid));
        Assert.Equal([workerTid, mainTid], rec.Sideband.Where(e => e.Kind == SidebandKind.Exit).Select(e => e.Tid));
        Assert.True(fork.Time < rec.Threads[1].TimeOf(0), "the worker ran before its clone was recorded");

        ulong worker = Symbols(bin)["worker"];
        Assert.Contains(worker, Instructions(rec.Threads[1]));
        Assert.DoesNotContain(worker, Instructions(rec.Threads[0]));
        CheckFlow(rec);
        CheckTime(rec);
    }

    [Fact]
    public void A_dynamic_program_that_forks_and_execs_a_static_one_is_followed_into_both()
    {
        string bin = SoftPtSamples.Path("fork_exec");
        string child = SoftPtSamples.Path("syscalls", SoftPtBuild.Static);
        var (rec, stdout) = Trace(log, bin, child, "20");
        var said = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1]);
        int parentPid = int.Parse(said["parent"]), childPid = int.Parse(said["child"]);
        Assert.Equal("3", said["status"]);
        Assert.Equal(3, rec.ExitCode);

        Assert.Equal([(parentPid, parentPid), (childPid, childPid)], rec.Threads.Select(t => (t.Pid, t.Tid)));
        var fork = Assert.Single(rec.Sideband, e => e.Kind == SidebandKind.Fork);
        Assert.Equal((childPid, childPid, parentPid, parentPid), (fork.Pid, fork.Tid, fork.ParentPid, fork.ParentTid));
        var execs = rec.Sideband.Where(e => e.Kind == SidebandKind.Exec).ToList();
        Assert.Equal([parentPid, childPid], execs.Select(e => e.Pid));
        Assert.Equal(Path.GetFullPath(child), execs[1].Path);
        Assert.Equal("syscalls-static", execs[1].Comm);
        Assert.Equal([childPid, parentPid], rec.Sideband.Where(e => e.Kind == SidebandKind.Exit).Select(e => e.Pid));
        Assert.All(rec.Sideband.Where(e => e.Kind == SidebandKind.Exit), e => Assert.Equal(3, e.ExitCode));

        // The child's log: fork_exec code up to execve, an Exec marker, then only code of the static binary.
        var steps = rec.Threads[1].Steps.AsSpan().ToArray();
        int exec = Array.FindIndex(steps, e => StepMarker.IsMarker(e) && StepMarker.KindOf(e) == StepMarker.Kind.Exec);
        Assert.True(exec > 0, "no Exec marker in the child's log");
        int space = (int)StepMarker.ArgumentOf(steps[exec]);
        Assert.Equal(execs[1].AddressSpaceId, space);
        string[] allowed = [Path.GetFullPath(child), "[vdso]"];
        foreach (ulong a in steps.Skip(exec + 1).Where(e => !StepMarker.IsMarker(e)))
            Assert.Contains(RegionAt(rec, space, a)!.Path, allowed);
        var getppid = Disassembly(child, "__getppid").Single(i => i.Text == "syscall").Address;
        Assert.Equal(20, steps.Count(e => e == getppid));
        CheckFlow(rec);
        CheckTime(rec);
    }

    [Fact]
    public void A_syscall_loop_runs_each_syscall_instruction_once_per_iteration()
    {
        string bin = SoftPtSamples.Path("syscalls", SoftPtBuild.Static);
        var (rec, stdout) = Trace(log, bin, "200");
        Assert.Equal("syscalls 200\n", stdout);
        Assert.Equal(3, rec.ExitCode);
        var getppid = Disassembly(bin, "__getppid").Single(i => i.Text == "syscall").Address;
        Assert.Equal(200, Instructions(Assert.Single(rec.Threads)).Count(a => a == getppid));
    }

    [Fact]
    public void Code_run_in_the_vDSO_is_captured_with_the_kernels_bytes()
    {
        string bin = SoftPtSamples.Path("vdso");
        var (rec, stdout) = Trace(log, bin);
        Assert.Equal("vdso ok\n", stdout);
        var thread = Assert.Single(rec.Threads);
        var vdso = Assert.Single(rec.Sideband, e => e.Kind == SidebandKind.Mmap && e.Path == "[vdso]");
        int inVdso = Instructions(thread).Count(a => a >= vdso.Address && a < vdso.Address + vdso.Length);
        log.WriteLine($"{inVdso} instructions executed in [vdso]");
        Assert.True(inVdso > 10, $"only {inVdso} instructions ran in the vDSO");
        byte[]? own = VdsoImage.ReadOwn();   // the same kernel maps the same vDSO into every process
        Assert.NotNull(own);
        Assert.Equal(own, vdso.Region!.Bytes);
        CheckFlow(rec);
    }

    [Fact]
    public void Code_written_to_anonymous_memory_is_captured_each_time_it_is_made_executable()
    {
        string bin = SoftPtSamples.Path("jit", SoftPtBuild.Static);
        var (rec, stdout) = Trace(log, bin);
        var said = stdout.Trim().Split(' ');
        Assert.Equal(["jit", "42", "43"], [said[0], said[2], said[3]]);
        ulong code = ulong.Parse(said[1], System.Globalization.NumberStyles.HexNumber);

        Assert.Equal(2, Instructions(Assert.Single(rec.Threads)).Count(a => a == code));   // called twice
        var maps = rec.Sideband.Where(e => e.Kind == SidebandKind.Mmap && e.Address == code).ToList();
        Assert.Equal(2, maps.Count);   // one capture per mprotect(PROT_EXEC)
        Assert.All(maps, m => Assert.Equal("//anon", m.Path));
        // What the program wrote: B8 imm32 (mov eax, imm32), C3 (ret); 42 the first time, 43 after the rewrite.
        Assert.Equal(new byte[] { 0xb8, 42, 0, 0, 0, 0xc3 }, maps[0].Region!.Bytes[..6]);
        Assert.Equal(new byte[] { 0xb8, 43, 0, 0, 0, 0xc3 }, maps[1].Region!.Bytes[..6]);
        CheckFlow(rec);
    }

    [Fact]
    public void An_exec_from_a_second_thread_continues_under_the_leaders_tid_in_a_new_address_space()
    {
        string bin = SoftPtSamples.Path("thread_exec", SoftPtBuild.Static);
        string loop = SoftPtSamples.NoStdlib("loop");
        var (rec, _) = Trace(log, bin, loop);
        Assert.Equal(7, rec.ExitCode);
        Assert.Equal(3, rec.Threads.Count);
        int pid = rec.Threads[0].Pid;
        int second = rec.Threads[1].Tid;
        Assert.Equal([(pid, pid), (pid, second), (pid, pid)], rec.Threads.Select(t => (t.Pid, t.Tid)));
        Assert.NotEqual(rec.Threads[0].AddressSpaceId, rec.Threads[2].AddressSpaceId);
        Assert.Equal(LoopInstructions(loop), Instructions(rec.Threads[2]));   // the new image, from its first instruction
        var exec = rec.Sideband.Last(e => e.Kind == SidebandKind.Exec);
        Assert.Equal((pid, pid, Path.GetFullPath(loop)), (exec.Pid, exec.Tid, exec.Path));
        Assert.Equal(rec.Threads[2].AddressSpaceId, exec.AddressSpaceId);
        CheckFlow(rec);
        CheckTime(rec);
    }

    [Fact]
    public void A_command_that_does_not_exist_is_a_clear_error()
    {
        var e = Assert.Throws<CommandNotFoundException>(() => SoftPtTracer.Run(["no-such-command-softpt"]));
        Assert.Equal(127, e.ExitCode);
        Assert.Equal("no-such-command-softpt: command not found", e.Message);
    }

    [Fact]
    public void Cancelling_kills_a_tracee_blocked_in_the_kernel_and_returns_what_ran()
    {
        string bin = SoftPtSamples.NoStdlib("sleep");   // one 30 s nanosleep
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var rec = SoftPtTracer.Run([bin], null, cancel.Token);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"cancel took {clock.Elapsed}");
        Assert.True(rec.Truncated);
        Assert.Equal(137, rec.ExitCode);
        var thread = Assert.Single(rec.Threads);
        Assert.Equal(Disassembly(bin, "_start").Take(4).Select(i => i.Address), Instructions(thread));   // mov, lea, xor, syscall
        Assert.False(Directory.Exists($"/proc/{thread.Pid}"), "the tracee is still there");
    }

    [Fact]
    public void A_step_limit_stops_the_trace_and_kills_the_tracee()
    {
        string bin = SoftPtSamples.Path("busy", SoftPtBuild.Static);
        var rec = SoftPtTracer.Run([bin, "1000000"], new SoftPtTracerOptions { MaxSteps = 3000, StandardOutputPath = "/dev/null" });
        Assert.True(rec.Truncated);
        Assert.Equal(3000, rec.TotalSteps);
        Assert.Equal(137, rec.ExitCode);
        var thread = Assert.Single(rec.Threads);
        Assert.Equal(StepMarker.Make(StepMarker.Kind.Exit, 137), thread.Steps[thread.Steps.Count - 1]);
        Assert.InRange(Instructions(thread).Length, 2900, 3000);   // rep iterations are steps but one instruction
    }

    [Fact]
    public void Throughput_on_a_loop_of_calls()
    {
        string bin = SoftPtSamples.Path("busy", SoftPtBuild.Static);
        var (rec, stdout) = Trace(log, bin, "10000");
        Assert.Equal("busy 10000\n", stdout);
        ulong mix = Symbols(bin)["mix"];
        Assert.Equal(10000, Instructions(Assert.Single(rec.Threads)).Count(a => a == mix));
        log.WriteLine($"throughput: {rec.TotalSteps / rec.ElapsedSeconds:F0} steps/s over {rec.TotalSteps} steps");
    }
}
