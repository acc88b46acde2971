using System.Diagnostics;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// One single-stepped run, on the tracer thread. The model:
/// <list type="bullet">
/// <item>Only one tracee executes user code at a time: a thread is stepped, then waited for by its own tid
/// (waitpid(tid, __WALL)). Threads take turns (<see cref="SoftPtTracerOptions.Quantum"/> steps each), which keeps
/// the record deterministic for one thread and lets spin-waits make progress.</item>
/// <item>An instruction is logged when the thread is resumed to run it, at the time of the stop that showed it.
/// A later stop that shows it did not run (a fault, or a signal that came first) takes it back.</item>
/// <item>A step that may block in the kernel (a <c>syscall</c>, finishing a syscall after an event stop, delivering a
/// signal) is left "in flight" while other threads run; in-flight threads are polled with WNOHANG. Blocking on a
/// single tid is only done when nothing else can run, and never on a group leader while a sibling is in flight:
/// the kernel reports a dead leader only after its other threads are reaped, so that wait could never return.</item>
/// </list>
/// Time: one global counter, +1 at every stop handled, shared by all threads and the sideband.
/// <para>Three ways in: a launched command from its exec; a launched command seized after a delay (-D); and running
/// processes seized where they are (-p), which are detached, not killed, at the end (<see cref="DetachAll"/>).</para>
/// </summary>
internal sealed class StepSession(string? path, IReadOnlyList<string> command, IReadOnlyList<int>? attachPids, SoftPtTracerOptions options, CancellationToken cancellationToken)
{
    private const int SIGKILL = 9, SIGTRAP = 5, SIGCONT = 18, PROT_EXEC = 4;
    private const long SysMmap = 9, SysMprotect = 10, SysMunmap = 11, SysMremap = 25, SysPkeyMprotect = 329;
    private const long ERESTARTSYS = -512, ERESTARTNOINTR = -513, ERESTARTNOHAND = -514, ERESTART_RESTARTBLOCK = -516;

    private const int TraceOptions = Ptrace.O_TRACEEXEC | Ptrace.O_TRACECLONE | Ptrace.O_TRACEFORK | Ptrace.O_TRACEVFORK |
                                     Ptrace.O_TRACESYSGOOD | Ptrace.O_EXITKILL;

    private readonly ExecutionRecording _recording = new();
    private readonly Dictionary<int, TracedThread> _threads = [];
    private readonly List<TracedThread> _live = [];
    private readonly Dictionary<int, TracedProcess> _processes = [];
    private readonly HashSet<int> _livePids = [];   // guarded by itself: the cancellation callback kills them
    private bool _killRequested;                      // guarded by _livePids
    private bool _stopping;
    private int _readyCount, _inFlightCount;
    private long _time, _steps;
    private int _mainPid;

    /// <summary>Attaching to processes we did not start: they outlive us, so they are detached at the end, never killed.</summary>
    private bool Attaching => attachPids is not null;

    /// <summary>A tracer that dies kills what it launched (EXITKILL), never a process it attached to.</summary>
    private int SeizeOptions => Attaching ? TraceOptions & ~Ptrace.O_EXITKILL : TraceOptions;

    public ExecutionRecording Run()
    {
        if (attachPids is not null) return RunAttached(attachPids);
        using var gate = TraceeGate.Spawn(path!, command, options);
        _mainPid = gate.Pid;
        lock (_livePids) _livePids.Add(_mainPid);
        using var registration = cancellationToken.Register(KillAllFromAnyThread);
        using var quietStops = ChildStopSignals.Suppress();
        if (options.StartDelay is { } delay) return RunDelayed(gate, delay);
        try
        {
            Ptrace.Seize(_mainPid, TraceOptions);
            Ptrace.Interrupt(_mainPid);
        }
        catch
        {
            Sys.Kill(_mainPid, SIGKILL);
            Ptrace.Wait(_mainPid, block: true, out _);
            throw;
        }
        if (!WaitForCommandExec(gate)) return _recording;
        return Trace(StartCommand);
    }

    /// <summary>Single-steps from <paramref name="start"/> until every tracee is gone (or stopped early).</summary>
    private ExecutionRecording Trace(Action start)
    {
        var clock = Stopwatch.StartNew();
        // The loop stops at the deadline between steps; the timer kills the tracees too, because the tracer may be
        // blocked in waitpid on a thread that sleeps in a syscall, as the cancellation callback does.
        // Attached processes are never killed: the waits poll instead (WaitInterruptibly), so the tracer sees the deadline.
        Timer? timer = null;
        if (options.Duration is { } duration)
        {
            _deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            if (!Attaching) timer = new Timer(_ => KillAllFromAnyThread(), null, duration, Timeout.InfiniteTimeSpan);
        }
        using var stopAtDeadline = timer;
        try
        {
            start();
            Loop();
        }
        catch when (Attaching)
        {
            // Whatever went wrong, the processes must carry on: let go of every thread before reporting it.
            try { DetachAll(); } catch (Exception) { /* the first error is the one to report */ }
            throw;
        }
        finally
        {
            lock (_livePids) if (_killRequested) _recording.Truncated = true;   // the cancel callback may kill before the loop looks
            _recording.TotalSteps = _steps;
            _recording.ElapsedSeconds = clock.Elapsed.TotalSeconds;
            foreach (var p in _processes.Values) p.Dispose();
        }
        return _recording;
    }

    private long _deadline = long.MaxValue;

    private bool PastDeadline() => _deadline != long.MaxValue && Stopwatch.GetTimestamp() >= _deadline;

    // ---- launch ----

    /// <summary>
    /// Releases the gate and lets it run (untraced in effect) up to its exec of the command; false when it ended
    /// first. posix_spawn returns as soon as the gate's own execve of /bin/sh has let go of our memory, which is
    /// before that exec reports PTRACE_EVENT_EXEC: the seize may catch it. So the gate is interrupted right after
    /// the seize, and its first stop (that interrupt, or the exec trap, which the kernel lets absorb a pending
    /// interrupt) marks the point after which an exec can only be the command's: the gate is released there.
    /// </summary>
    private bool WaitForCommandExec(TraceeGate gate)
    {
        bool released = false;
        while (true)
        {
            if (Ptrace.Wait(_mainPid, block: true, out var st) < 0)
                throw new PerfException($"lost track of the exec gate (pid {_mainPid})");
            if (st.Exited || st.Signaled)
            {
                lock (_livePids) _livePids.Remove(_mainPid);
                _recording.ExitCode = st.ShellExitCode;
                if (cancellationToken.IsCancellationRequested) { _recording.Truncated = true; return false; }
                if (st.ShellExitCode is 126 or 127)
                    throw new CommandNotFoundException($"{command[0]}: cannot be executed (the exec gate exited {st.ShellExitCode})", st.ShellExitCode);
                return false;
            }
            if (!released)
            {
                gate.Release();
                released = true;
            }
            else if (st.Event == Ptrace.EVENT_EXEC) return true;
            int signal = st.Event == 0 && st.StopSignal != SIGTRAP ? st.StopSignal : 0;
            Ptrace.TryContinue(_mainPid, signal);
        }
    }

    private void StartCommand()
    {
        _time++;
        var space = NewAddressSpace(_mainPid);
        var process = AddProcess(new TracedProcess(_mainPid, space, new TraceeMemory(_mainPid)));
        var thread = AddThread(_mainPid, process, ThreadRunState.Ready);
        thread.StopTime = _time;
        AnnounceExec(process, thread.Tid);
        PrepareFirstInstructionAfterExec(thread);
    }

    // ---- delayed start: attach to the running command ----

    /// <summary>
    /// -D/--delay: the gate is released untraced and the command runs on its own for <paramref name="delay"/>; then
    /// every thread is seized and single-stepping starts where each one is. The kernel's view of the process is
    /// synthesised as a recording from its exec would have it: an exec (COMM) of the process, its executable mappings
    /// (captured from memory, as after an exec), and a fork for each thread other than the main one.
    /// </summary>
    private ExecutionRecording RunDelayed(TraceeGate gate, TimeSpan delay)
    {
        gate.Release();
        if (!RunUntraced(delay)) return _recording;
        return Trace(AttachToRunningCommand);
    }

    /// <summary>Waits out the delay; false when the command ended first (or we were cancelled and killed it).</summary>
    private bool RunUntraced(TimeSpan delay)
    {
        long until = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            // Our own child, not traced: waitpid reports only its end (stops need WUNTRACED, which we do not ask).
            int r = Ptrace.Wait(_mainPid, block: false, out var st);
            if (r > 0 && (st.Exited || st.Signaled))
            {
                lock (_livePids) _livePids.Remove(_mainPid);
                _recording.ExitCode = st.ShellExitCode;
                if (cancellationToken.IsCancellationRequested) { _recording.Truncated = true; return false; }
                if (st.ShellExitCode is 126 or 127)
                    throw new CommandNotFoundException($"{command[0]}: cannot be executed (the exec gate exited {st.ShellExitCode})", st.ShellExitCode);
                return false;
            }
            if (r < 0) throw new PerfException($"lost track of the command (pid {_mainPid})");
            if (cancellationToken.IsCancellationRequested) continue;   // killed by the cancel callback: its end comes next
            long left = until - Stopwatch.GetTimestamp();
            if (left <= 0) return true;
            Thread.Sleep(TimeSpan.FromSeconds(Math.Min(0.01, (double)left / Stopwatch.Frequency)));
        }
    }

    /// <summary>Seizes every thread of the command where it is (<see cref="SeizeAllThreads"/>, <see cref="AddSeized"/>).</summary>
    private void AttachToRunningCommand()
    {
        _time++;
        var seized = SeizeAllThreads(_mainPid, out var failure);
        AddSeized(_mainPid, seized, announce: failure is null);
        if (failure is not null) throw failure;
    }

    // ---- attaching to running processes (-p) ----

    private ExecutionRecording RunAttached(IReadOnlyList<int> pids)
    {
        _mainPid = pids[0];
        using var quietStops = ChildStopSignals.Suppress();
        return Trace(() => AttachToProcesses(pids));
    }

    /// <summary>
    /// -p: every thread of every process is seized and interrupted (as for -D), and the caller told how many. When one
    /// cannot be seized, the threads seized so far are detached again before the error is reported.
    /// </summary>
    private void AttachToProcesses(IReadOnlyList<int> pids)
    {
        _time++;
        var counts = new List<(int Pid, int Threads)>();
        foreach (int pid in pids)
        {
            var seized = SeizeAllThreads(pid, out var failure);
            if (seized.Count > 0) AddSeized(pid, seized, announce: failure is null);
            if (failure is not null) throw failure;   // Trace() detaches what was seized
            counts.Add((pid, seized.Count));
        }
        options.Attached?.Invoke(counts);
    }

    /// <summary>
    /// Seizes and interrupts every thread of <paramref name="pid"/>, main thread first. A thread that an unseized one
    /// creates meanwhile shows up in the next listing of /proc/PID/task (listed until nothing new appears); threads that
    /// seized ones create are attached by the kernel (PTRACE_O_TRACECLONE) and reported as clone events, so a seize
    /// refused because the thread is ours already (EPERM, TracerPid is us) leaves it to that event. Any other refusal
    /// is returned in <paramref name="failure"/> with what was seized before it.
    /// </summary>
    private List<int> SeizeAllThreads(int pid, out PerfException? failure)
    {
        failure = null;
        var seized = new List<int>();
        bool added = true;
        while (added && failure is null)
        {
            added = false;
            foreach (int tid in ProcFs.Threads(pid))
            {
                if (seized.Contains(tid) || _threads.ContainsKey(tid)) continue;
                try { Ptrace.Seize(tid, SeizeOptions); }
                catch (PerfException e) when (e.Errno == Ptrace.ESRCH) { continue; }
                catch (PerfException e) when (e.Errno == 1 /* EPERM */)
                {
                    // Ours already (a clone we are told of), or a thread that has exited (a main thread after pthread_exit).
                    if (ThreadStatus.Read(tid) is { TracerPid: var tracer, State: var state } && (tracer == Environment.ProcessId || state is 'Z' or 'X')) continue;
                    failure = ThreadStatus.AttachProblem(pid) is { } why ? new PerfException($"cannot attach to pid {pid}: {why}", e.Errno) : e;
                    break;
                }
                try { Ptrace.Interrupt(tid); }
                catch (PerfException e) when (e.Errno == Ptrace.ESRCH) { }   // exited meanwhile: its end is reported
                seized.Add(tid);
                added = true;
            }
        }
        // Attached, a main thread that exited while the others run on is left out; a launched command's must be there.
        if (failure is null && (Attaching ? seized.Count == 0 : !seized.Contains(pid)))
            failure = new PerfException($"cannot attach to pid {pid}: {ThreadStatus.AttachProblem(pid) ?? "its main thread is gone"}", Ptrace.ESRCH);
        return seized;
    }

    /// <summary>
    /// The kernel's view of a process seized while it ran, synthesised as a recording from its exec would have it: an
    /// exec (COMM) of the process, its executable mappings (captured from memory, as after an exec), and a fork for
    /// each thread other than the main one.
    /// </summary>
    private void AddSeized(int pid, List<int> seized, bool announce)
    {
        if (seized.Remove(pid)) seized.Insert(0, pid);
        // The main thread unless it has exited (pthread_exit): a zombie has no memory left to read through.
        int first = seized[0];
        var space = NewAddressSpace(pid);
        var process = AddProcess(new TracedProcess(pid, space, new TraceeMemory(first)));
        foreach (int tid in seized)
        {
            var t = AddThread(tid, process, ThreadRunState.InFlight);
            t.AwaitingFirstStop = true;
            t.AttachedWhileRunning = true;
            t.StopTime = _time;
        }
        if (!announce) return;   // failed: only detached again
        AnnounceExec(process, first);
        foreach (int tid in seized)
        {
            if (tid == first) continue;
            _recording.Sideband.Add(new SidebandEvent
            {
                Kind = SidebandKind.Fork, Time = _time, Pid = pid, Tid = tid, ParentPid = pid, ParentTid = pid,
            });
        }
    }

    // ---- the loop ----

    private void Loop()
    {
        TracedThread? current = _live.Count > 0 ? _live[0] : null;
        int run = 0, tick = 0;
        while (_live.Count > 0)
        {
            if (!_stopping && (cancellationToken.IsCancellationRequested || _steps >= options.MaxSteps || PastDeadline())) StopAll();

            if (_inFlightCount > 0 && _live.Count > 1 && (++tick & 7) == 0) Harvest();

            if (current is null || current.State != ThreadRunState.Ready || (run >= options.Quantum && _readyCount > 1))
            {
                var next = NextReady(current);
                if (next is null) { WaitForAny(); continue; }
                if (next != current) { current = next; run = 0; }
            }
            if (run >= options.Quantum) run = 0;

            Step(current);
            run++;
            if (current.State == ThreadRunState.InFlight && CanBlockOn(current)) Collect(current, block: true);
        }
    }

    /// <summary>Logs the instruction about to run (if it runs) and resumes the thread for one instruction.</summary>
    private void Step(TracedThread t)
    {
        var process = t.Process;
        bool logged = false;
        try
        {
            if (t.LogAtResume)
            {
                ulong rip = t.Rip;
                if (process.RegionOf(rip) is null) CodeCapture.Rescan(process, t.Tid, t.StopTime, _recording);   // code that appeared without a mapping change we saw
                t.Append(rip, t.StopTime);
                logged = true;
                if (process.IsSyscallAt(rip))
                {
                    // A restarted syscall has -ERESTART* in rax; the kernel reloads the number from orig_rax.
                    long nr = (long)Ptrace.PeekUser(t.Tid, t.RestartingSyscall ? Ptrace.RegOrigRax : Ptrace.RegRax);
                    t.SyscallNumber = nr;
                    if (nr is SysMmap or SysMprotect or SysMremap or SysPkeyMprotect)
                    {
                        t.SyscallArg0 = Ptrace.PeekUser(t.Tid, Ptrace.RegRdi);
                        t.SyscallArg1 = Ptrace.PeekUser(t.Tid, Ptrace.RegRsi);
                        t.SyscallArg2 = Ptrace.PeekUser(t.Tid, Ptrace.RegRdx);
                    }
                    t.InSyscall = true;
                }
            }
            if (Ptrace.TryStep(t.Tid, t.PendingSignal)) _steps++;
            else if (logged) { t.RemoveLast(); t.SyscallNumber = -1; }   // killed while stopped: it never ran
        }
        catch (TraceeGoneException)
        {
            if (logged) t.RemoveLast();
        }
        SetState(t, ThreadRunState.InFlight);
    }

    private bool CanBlockOn(TracedThread t)
    {
        if (t.Risky && (_readyCount > 0 || _inFlightCount > 1)) return false;
        return !(t.Tid == t.Process.Pid && SiblingInFlight(t));
    }

    private static bool SiblingInFlight(TracedThread t)
    {
        foreach (var other in t.Process.Threads)
            if (other != t && other.State == ThreadRunState.InFlight) return true;
        return false;
    }

    private TracedThread? NextReady(TracedThread? after)
    {
        int n = _live.Count;
        int start = after is null ? 0 : _live.IndexOf(after) + 1;
        for (int i = 0; i < n; i++)
        {
            var t = _live[(start + i) % n];
            if (t.State == ThreadRunState.Ready) return t;
        }
        return null;
    }

    /// <summary>Collects stops of in-flight threads that are already there.</summary>
    private void Harvest()
    {
        for (int i = 0; i < _live.Count; i++)
            if (_live[i].State == ThreadRunState.InFlight) Collect(_live[i], block: false);
    }

    /// <summary>Nothing is ready: wait until some in-flight thread stops or dies.</summary>
    private void WaitForAny()
    {
        if (_inFlightCount == 1)
        {
            foreach (var t in _live)
                if (t.State == ThreadRunState.InFlight) { Collect(t, block: true); return; }
        }
        for (int spin = 0; ; spin++)
        {
            for (int i = 0; i < _live.Count; i++)
                if (_live[i].State == ThreadRunState.InFlight && Collect(_live[i], block: false)) return;
            if (_live.Count == 0) return;
            if (!_stopping && (cancellationToken.IsCancellationRequested || PastDeadline())) return;
            if (spin < 64) Sys.SchedYield();
            else Sys.USleep((uint)Math.Min(1000, 10 << Math.Min(spin - 64, 7)));
        }
    }

    /// <summary>waitpid on one thread; handles what it reports. False when nothing was there (non-blocking).</summary>
    private bool Collect(TracedThread t, bool block)
    {
        if (block && Attaching && t.Risky) return WaitInterruptibly(t);
        int r = Ptrace.Wait(t.Tid, block, out var status);
        if (r == 0) return false;
        if (r < 0) Vanished(t);
        else Handle(t, status);
        return true;
    }

    /// <summary>
    /// Attached: a step that may sleep in the kernel is waited for by polling, so the deadline and Ctrl-C are seen
    /// while the thread sleeps (the launch modes kill the tracees to wake a blocked tracer; attached ones must live).
    /// False when the trace is to stop first.
    /// </summary>
    private bool WaitInterruptibly(TracedThread t)
    {
        for (int spin = 0; ; spin++)
        {
            if (Collect(t, block: false)) return true;
            if (StopRequested()) return false;
            if (spin < 64) Sys.SchedYield();
            else Sys.USleep((uint)Math.Min(1000, 10 << Math.Min(spin - 64, 7)));
        }
    }

    private bool StopRequested() => cancellationToken.IsCancellationRequested || _steps >= options.MaxSteps || PastDeadline();

    // ---- stops ----

    private void Handle(TracedThread t, WaitStatus st)
    {
        // A system call takes time in the kernel: half of it passes before what it does (exec, mmap) is seen.
        if (t.SyscallNumber >= 0) _time += KernelHalfSteps;
        _time++;
        t.StopTime = _time;
        SetState(t, ThreadRunState.Ready);
        try
        {
            if (st.Exited || st.Signaled) { ThreadGone(t, st.ShellExitCode, sideband: true); return; }
            int ev = st.Event;
            if (t.AwaitingFirstStop)
            {
                t.AwaitingFirstStop = false;
                if (ev == Ptrace.EVENT_STOP)
                {
                    // Seized while stopped by job control (kill -STOP): a group-stop reports the stop signal, an
                    // interrupt SIGTRAP. Stepping it would resume what its user stopped: leave it be, stopped.
                    if (Attaching && t.AttachedWhileRunning && st.StopSignal != SIGTRAP) { LeaveStopped(t); return; }
                    PrepareFirstStop(t);
                    return;
                }
                // Attached while running, the first stop may be an event of what it was doing (an exec, a clone).
            }
            switch (ev)
            {
                case Ptrace.EVENT_FORK or Ptrace.EVENT_VFORK or Ptrace.EVENT_CLONE:
                    OnNewChild(t);
                    ResumeInsideSyscall(t);
                    return;
                case Ptrace.EVENT_EXEC:
                    OnExec(t);
                    return;
                case Ptrace.EVENT_STOP:
                    OnSignalStop(t, 0);   // a group stop: nothing to deliver, the thread goes on
                    return;
                case 0:
                    if (st.StopSignal == SIGTRAP) OnStepTrap(t);
                    else OnSignalStop(t, st.StopSignal);
                    return;
                default:
                    ResumeInsideSyscall(t);
                    return;
            }
        }
        catch (TraceeGoneException)
        {
            SetState(t, ThreadRunState.InFlight);   // killed while we looked: its death report comes next
        }
    }

    private static void ResumeInsideSyscall(TracedThread t)
    {
        t.LogAtResume = false;
        t.PendingSignal = 0;
        t.InSyscall = true;
    }

    private void PrepareFirstStop(TracedThread t)
    {
        t.Rip = Ptrace.PeekUser(t.Tid, Ptrace.RegRip);
        t.LogAtResume = true;
        t.InSyscall = false;
        t.PendingSignal = 0;
        if (t.AttachedWhileRunning)
        {
            // Interrupted in a blocking syscall, the thread stops just after it with -ERESTART* in rax; on resume the
            // kernel rewinds to the syscall and runs it again: that syscall is the first instruction it executes.
            t.AttachedWhileRunning = false;
            ulong rip = t.Rip;
            if (rip >= 2 && t.Process.IsSyscallAt(rip - 2)
                && (long)Ptrace.PeekUser(t.Tid, Ptrace.RegRax) is ERESTARTSYS or ERESTARTNOINTR or ERESTARTNOHAND or ERESTART_RESTARTBLOCK)
            {
                t.Rip = rip - 2;
                t.RestartingSyscall = true;
            }
        }
    }

    /// <summary>The single-step trap: the logged instruction ran, the thread is at the next one.</summary>
    private void OnStepTrap(TracedThread t)
    {
        ulong rip = Ptrace.PeekUser(t.Tid, Ptrace.RegRip);
        EnterHandlerIfDue(t, rip);
        if (t.SyscallNumber >= 0) { AfterSyscall(t); EndKernelTime(t); }
        t.InSyscall = false;
        t.PendingSignal = 0;
        t.RestartingSyscall = false;
        t.Rip = rip;
        // A rep-prefixed string instruction traps once per iteration at the same address: one instruction. A syscall
        // found again at its own address was restarted by the kernel and really runs twice.
        t.LogAtResume = !(t.LastLoggedIs(rip) && !t.Process.IsSyscallAt(rip));
    }

    /// <summary>
    /// A signal is about to be delivered (signal 0: a group stop). If the thread sits at the instruction logged last,
    /// that instruction did not run: a fault stops before it completes, and an asynchronous signal is taken before it.
    /// </summary>
    private void OnSignalStop(TracedThread t, int signal)
    {
        ulong rip = Ptrace.PeekUser(t.Tid, Ptrace.RegRip);
        EnterHandlerIfDue(t, rip);
        if (t.SyscallNumber >= 0) { AfterSyscall(t); EndKernelTime(t); }
        t.InSyscall = false;
        t.RestartingSyscall = false;
        if (t.LastLoggedIs(rip)) t.RemoveLast();

        // A syscall interrupted with -ERESTART*: without a handler the kernel rewinds to the syscall and runs it again.
        bool restart = false;
        if (rip >= 2 && t.LastLoggedIs(rip - 2) && t.Process.IsSyscallAt(rip - 2))
            restart = (long)Ptrace.PeekUser(t.Tid, Ptrace.RegRax) is ERESTARTSYS or ERESTARTNOINTR or ERESTARTNOHAND or ERESTART_RESTARTBLOCK;

        var action = signal == 0 ? SignalAction.Ignore : SignalDisposition.Of(t.Tid, signal);
        // Attached, a stop signal withheld now is sent again when we detach (SIGCONT cancels it, as in the kernel).
        if (Attaching && action == SignalAction.Stop) t.Process.WithheldStopSignal = signal;
        else if (signal == SIGCONT) t.Process.WithheldStopSignal = 0;
        t.Rip = rip;
        switch (action)
        {
            case SignalAction.Handler:
                // The kernel builds the frame and reports a step trap at the handler's first instruction, before it runs.
                t.PendingSignal = signal;
                t.LogAtResume = false;
                t.HandlerSignal = signal;
                t.HandlerResumeIp = rip;
                break;
            case SignalAction.Terminate:
                t.PendingSignal = signal;   // the process dies on resume
                t.LogAtResume = false;
                break;
            default:
                // Ignored signals change nothing; stop signals are not delivered (job control would freeze the trace).
                t.PendingSignal = action == SignalAction.Ignore ? signal : 0;
                if (restart) { t.Rip = rip - 2; t.RestartingSyscall = true; }
                t.LogAtResume = true;
                break;
        }
    }

    /// <summary>After resuming with a handled signal, the first stop away from where it was resumed is the handler's entry.</summary>
    private void EnterHandlerIfDue(TracedThread t, ulong rip)
    {
        if (t.HandlerSignal == 0) return;
        if (rip != t.HandlerResumeIp) t.AppendMarker(StepMarker.Kind.Signal, (ulong)t.HandlerSignal, _time);
        t.HandlerSignal = 0;
    }

    /// <summary>A stepped syscall completed: if it changed mappings, re-read them (and re-capture code it may have rewritten).</summary>
    private void AfterSyscall(TracedThread t)
    {
        long nr = t.SyscallNumber;
        t.SyscallNumber = -1;
        var p = t.Process;
        switch (nr)
        {
            case SysMmap:
            {
                ulong at = Ptrace.PeekUser(t.Tid, Ptrace.RegRax);
                if (at < 1UL << 47) CodeCapture.Rescan(p, t.Tid, _time, _recording, at, at + t.SyscallArg1);
                break;
            }
            case SysMremap:
            {
                ulong at = Ptrace.PeekUser(t.Tid, Ptrace.RegRax);
                if (at < 1UL << 47) CodeCapture.Rescan(p, t.Tid, _time, _recording, at, at + t.SyscallArg2);
                break;
            }
            case SysMprotect or SysPkeyMprotect:
                if ((t.SyscallArg2 & PROT_EXEC) != 0) CodeCapture.Rescan(p, t.Tid, _time, _recording, t.SyscallArg0, t.SyscallArg0 + t.SyscallArg1);
                else CodeCapture.Rescan(p, t.Tid, _time, _recording);
                break;
            case SysMunmap:
                CodeCapture.Rescan(p, t.Tid, _time, _recording);
                break;
        }
    }

    private void OnNewChild(TracedThread parent)
    {
        int childTid = (int)Ptrace.GetEventMessage(parent.Tid);
        if (childTid <= 0 || _threads.ContainsKey(childTid)) return;
        int childPid;
        try { childPid = ProcFs.ProcessOf(childTid); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { childPid = childTid; }

        TracedProcess process;
        if (childPid == parent.Process.Pid) process = parent.Process;
        else
        {
            // A fork starts with its parent's code: share the captured regions (the same byte arrays).
            var space = NewAddressSpace(childPid);
            space.Regions.AddRange(parent.Process.Space.Regions);
            process = AddProcess(new TracedProcess(childPid, space, new TraceeMemory(childPid)) { Captured = [.. parent.Process.Captured] });
        }
        var child = AddThread(childTid, process, ThreadRunState.InFlight);
        child.AwaitingFirstStop = true;
        _recording.Sideband.Add(new SidebandEvent
        {
            Kind = SidebandKind.Fork, Time = _time, Pid = childPid, Tid = childTid,
            ParentPid = parent.Process.Pid, ParentTid = parent.Tid,
        });
    }

    /// <summary>
    /// PTRACE_EVENT_EXEC: a new program image. When a non-leader thread exec'd, the kernel has given it the leader's
    /// tid and the old leader is gone without a death report: both old logs end (Exit 0) and a new one starts.
    /// </summary>
    private void OnExec(TracedThread t)
    {
        int former = (int)Ptrace.GetEventMessage(t.Tid);
        var process = t.Process;
        var thread = t;
        if (former != t.Tid && former > 0)
        {
            ThreadGone(t, 0, sideband: true, processMayEnd: false);
            if (_threads.TryGetValue(former, out var execer)) ThreadGone(execer, 0, sideband: false, processMayEnd: false);
            ReplaceAddressSpace(process);
            thread = AddThread(t.Tid, process, ThreadRunState.Ready);
            thread.StopTime = _time;
        }
        else
        {
            ReplaceAddressSpace(process);
            thread.AppendMarker(StepMarker.Kind.Exec, (ulong)process.Space.Id, _time);
        }
        AnnounceExec(process, thread.Tid);
        EndKernelTime(thread);
        PrepareFirstInstructionAfterExec(thread);
    }

    /// <summary>
    /// Steps of "kernel time" on each side of what a system call does. Without it the instructions after a syscall
    /// would be one tick after it, and a decoder that orders sideband by the trace's timing packets (perf) could not
    /// put an exec or mmap between them; with it the clock jumps by more than an MTC period across the call, as a
    /// real kernel entry does, and the encoder re-states the time (TSC) when tracing resumes.
    /// </summary>
    private const long KernelHalfSteps = 64;

    /// <summary>The second half of a syscall's kernel time: the thread resumes in user mode after it.</summary>
    private void EndKernelTime(TracedThread t)
    {
        _time += KernelHalfSteps;
        t.StopTime = _time;
    }

    private void ReplaceAddressSpace(TracedProcess process)
    {
        process.Space = NewAddressSpace(process.Pid);
        process.Memory.Dispose();
        process.Memory = new TraceeMemory(process.Pid);   // the old descriptor still points at the old image
        process.Captured = [];
        process.LastRegion = null;
    }

    private void AnnounceExec(TracedProcess process, int tid)
    {
        string comm = ReadProc($"/proc/{process.Pid}/comm")?.TrimEnd('\n') ?? "";
        string exe = "";
        try { exe = new FileInfo($"/proc/{process.Pid}/task/{tid}/exe").LinkTarget ?? ""; }   // the thread's: a zombie main thread has none
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _recording.Sideband.Add(new SidebandEvent
        {
            Kind = SidebandKind.Exec, Time = _time, Pid = process.Pid, Tid = tid, Comm = comm, Path = exe,
            AddressSpaceId = process.Space.Id,
        });
        CodeCapture.Rescan(process, tid, _time, _recording);
    }

    /// <summary>At the exec stop the thread is at the new entry point, still inside execve; resuming finishes the call.</summary>
    private static void PrepareFirstInstructionAfterExec(TracedThread t)
    {
        t.Rip = Ptrace.PeekUser(t.Tid, Ptrace.RegRip);
        t.LogAtResume = true;
        t.InSyscall = true;
        t.SyscallNumber = -1;
        t.PendingSignal = 0;
        t.HandlerSignal = 0;
        t.RestartingSyscall = false;
    }

    // ---- threads and processes ----

    private AddressSpace NewAddressSpace(int pid)
    {
        var space = new AddressSpace { Id = _recording.AddressSpaces.Count, Pid = pid };
        _recording.AddressSpaces.Add(space);
        return space;
    }

    private TracedProcess AddProcess(TracedProcess process)
    {
        _processes[process.Pid] = process;
        lock (_livePids)
        {
            _livePids.Add(process.Pid);
            if (_killRequested) Sys.Kill(process.Pid, SIGKILL);
        }
        return process;
    }

    private TracedThread AddThread(int tid, TracedProcess process, ThreadRunState state)
    {
        var log = new ThreadExecution { Pid = process.Pid, Tid = tid, AddressSpaceId = process.Space.Id };
        _recording.Threads.Add(log);
        var t = new TracedThread(tid, process, log) { State = ThreadRunState.Gone };
        _threads[tid] = t;
        _live.Add(t);
        process.Threads.Add(t);
        SetState(t, state);
        return t;
    }

    private void ThreadGone(TracedThread t, int exitCode, bool sideband, bool processMayEnd = true)
    {
        if (t.State == ThreadRunState.Gone) return;
        t.AppendMarker(StepMarker.Kind.Exit, (ulong)exitCode, _time);
        if (sideband)
            _recording.Sideband.Add(new SidebandEvent { Kind = SidebandKind.Exit, Time = _time, Pid = t.Process.Pid, Tid = t.Tid, ExitCode = exitCode });
        SetState(t, ThreadRunState.Gone);
        _live.Remove(t);
        if (_threads.TryGetValue(t.Tid, out var x) && x == t) _threads.Remove(t.Tid);
        var process = t.Process;
        process.Threads.Remove(t);
        if (processMayEnd && t.Tid == process.Pid && process.Threads.Count == 0 && _processes.TryGetValue(process.Pid, out var p) && p == process)
        {
            if (process.Pid == _mainPid) _recording.ExitCode = exitCode;
            _processes.Remove(process.Pid);
            lock (_livePids) _livePids.Remove(process.Pid);
            process.Dispose();
        }
    }

    /// <summary>waitpid says the tid is not ours any more: it exec'd from a non-leader thread and now has the leader's tid.</summary>
    private void Vanished(TracedThread t)
    {
        var process = t.Process;
        ThreadGone(t, 0, sideband: false);
        foreach (var other in process.Threads)
            if (other.Tid == process.Pid && other.State == ThreadRunState.Ready) SetState(other, ThreadRunState.InFlight);   // it reports the exec
    }

    private void SetState(TracedThread t, ThreadRunState state)
    {
        if (t.State == state) return;
        if (t.State == ThreadRunState.Ready) _readyCount--;
        else if (t.State == ThreadRunState.InFlight) _inFlightCount--;
        t.State = state;
        if (state == ThreadRunState.Ready) _readyCount++;
        else if (state == ThreadRunState.InFlight) _inFlightCount++;
    }

    // ---- stopping early ----

    /// <summary>Cancelled or out of steps: kill every tracee, then collect their deaths (the loop continues until none is left).
    /// Attached processes are detached instead.</summary>
    private void StopAll()
    {
        if (Attaching) { DetachAll(); return; }
        _stopping = true;
        _recording.Truncated = true;
        KillAllFromAnyThread();
        foreach (var t in _live)
            if (t.State == ThreadRunState.Ready) SetState(t, ThreadRunState.InFlight);
    }

    /// <summary>Safe from any thread (kill is not a ptrace request): unblocks a tracer waiting on a tracee that sleeps.</summary>
    private void KillAllFromAnyThread()
    {
        lock (_livePids)
        {
            _killRequested = true;
            foreach (int pid in _livePids) Sys.Kill(pid, SIGKILL);
        }
    }

    // ---- detaching (-p) ----

    private bool _detached;

    /// <summary>
    /// The end of an attached trace: every thread is brought to a ptrace stop we have handled, cleared of the SIGTRAP
    /// a single step may have left queued, and detached with the signal it was about to receive, so the process carries
    /// on as if never traced. A stop signal withheld while stepping is sent again (the process then stops, as asked).
    /// </summary>
    private void DetachAll()
    {
        if (_detached) return;
        _detached = true;
        _stopping = true;
        if (_live.Count > 0) _recording.Truncated = true;
        StopEveryThread();
        var processes = new HashSet<TracedProcess>();
        foreach (var t in _live.ToArray())
        {
            processes.Add(t.Process);
            Detach(t);
        }
        foreach (var p in processes)
            if (p.WithheldStopSignal != 0) Sys.Kill(p.Pid, p.WithheldStopSignal);
    }

    /// <summary>
    /// Collects the stop of every running thread. A plain step ends by itself within microseconds and is left to: an
    /// interrupt arriving as it ends would leave its trap queued. A thread that may sleep in the kernel (a syscall, a
    /// signal on its way), or a step still running after 50 ms, is interrupted. Threads that do not stop within 10 s
    /// (uninterruptible sleep) are left to the kernel, which detaches them when the tracer thread ends.
    /// </summary>
    private void StopEveryThread()
    {
        long start = Stopwatch.GetTimestamp();
        var interrupted = new HashSet<int>();
        for (int spin = 0; _inFlightCount > 0; spin++)
        {
            double waited = Stopwatch.GetElapsedTime(start).TotalSeconds;
            bool collected = false;
            foreach (var t in _live.ToArray())   // a stop may add a thread (clone) or end one
            {
                if (t.State != ThreadRunState.InFlight) continue;
                if ((t.Risky || waited > 0.05) && interrupted.Add(t.Tid)) Ptrace.TryInterrupt(t.Tid);
                if (Collect(t, block: false)) collected = true;
                // A main thread that called pthread_exit is a zombie whose end is reported only after its siblings':
                // there is nothing left of it to stop or detach.
                else if (waited > 0.1 && t.Tid == t.Process.Pid && ThreadStatus.Read(t.Tid) is null or { State: 'Z' or 'X' }) Forget(t);
            }
            if (collected) { spin = 0; continue; }
            if (waited > 10) return;
            if (spin < 64) Sys.SchedYield();
            else Sys.USleep(1000);
        }
    }

    /// <summary>Detaches one stopped thread with the signal it was stopped for (0 when it has none to receive).</summary>
    private void Detach(TracedThread t)
    {
        int signal = t.State == ThreadRunState.Ready ? t.PendingSignal : 0;
        if (t.State == ThreadRunState.Ready)
        {
            // A step's SIGTRAP still queued (the interrupt stop was reported before it): let the thread take it, which
            // it does before running anything (a kernel-sent synchronous signal is dequeued first), and drop it.
            for (int i = 0; i < 4 && signal == 0 && ThreadStatus.Read(t.Tid) is { } status && status.IsPending(SIGTRAP); i++)
                signal = TakeQueuedSignal(t.Tid);
            if (signal >= 0) Ptrace.TryDetach(t.Tid, signal);
        }
        Forget(t);
    }

    /// <summary>
    /// Resumes a stopped thread that has a signal queued and returns the one its next stop shows: 0 for a trap the
    /// kernel sent (si_code &gt; 0: our single step's), the signal itself otherwise; -1 when the thread is gone.
    /// </summary>
    private int TakeQueuedSignal(int tid)
    {
        if (!Ptrace.TryContinue(tid, 0)) return -1;
        long start = Stopwatch.GetTimestamp();
        bool interrupted = false;
        for (int spin = 0; ; spin++)
        {
            int r = Ptrace.Wait(tid, block: false, out var st);
            if (r < 0) return -1;
            if (r > 0)
            {
                if (!st.Stopped) return -1;
                if (st.Event != 0) return 0;
                if (st.StopSignal == SIGTRAP) return Ptrace.SignalCode(tid) is > 0 ? 0 : SIGTRAP;
                return st.StopSignal;
            }
            // It should stop at once; if it ran instead (nothing was queued after all), stop it.
            if (!interrupted && Stopwatch.GetElapsedTime(start).TotalSeconds > 0.1) interrupted = Ptrace.TryInterrupt(tid);
            if (spin < 64) Sys.SchedYield();
            else Sys.USleep(1000);
        }
    }

    /// <summary>A thread seized inside a group-stop: detached at once, the kernel puts it back in the stop.</summary>
    private void LeaveStopped(TracedThread t)
    {
        Ptrace.TryDetach(t.Tid, 0);
        Forget(t);
    }

    /// <summary>No longer ours: out of the loop, without an exit (the thread lives on).</summary>
    private void Forget(TracedThread t)
    {
        SetState(t, ThreadRunState.Gone);
        _live.Remove(t);
        if (_threads.TryGetValue(t.Tid, out var x) && x == t) _threads.Remove(t.Tid);
        t.Process.Threads.Remove(t);
    }

    private static string? ReadProc(string file)
    {
        try { return File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
