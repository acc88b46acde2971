using DotnetPtrace.Decoders.SoftPt;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>Where a traced thread is, from the tracer's side.</summary>
internal enum ThreadRunState
{
    /// <summary>In a ptrace stop we have handled: it runs again only when we resume it.</summary>
    Ready,
    /// <summary>Resumed (or just created): its next stop or its death is still to be collected.</summary>
    InFlight,
    Gone,
}

/// <summary>
/// One traced thread: its log, and what its last stop told us. The log is written through <see cref="Append"/>
/// and <see cref="RemoveLast"/> so the <see cref="ThreadExecution.Clock"/> checkpoints always match the entries.
/// </summary>
internal sealed class TracedThread(int tid, TracedProcess process, ThreadExecution log)
{
    public int Tid { get; } = tid;
    public TracedProcess Process { get; set; } = process;
    public ThreadExecution Log { get; } = log;
    public ThreadRunState State { get; set; } = ThreadRunState.InFlight;

    /// <summary>Auto-attached at clone/fork: its first stop (PTRACE_EVENT_STOP) has not been collected yet.</summary>
    public bool AwaitingFirstStop { get; set; }

    /// <summary>Seized while running (delayed start): its first stop may be inside a syscall the kernel restarts.</summary>
    public bool AttachedWhileRunning { get; set; }

    /// <summary>The address of the next instruction, read at the last stop.</summary>
    public ulong Rip { get; set; }
    /// <summary>The global time of the last stop.</summary>
    public long StopTime { get; set; }
    /// <summary>Log <see cref="Rip"/> at the next resume: the instruction there runs in the coming step.</summary>
    public bool LogAtResume { get; set; }
    /// <summary>The signal to deliver with the next resume (0: none).</summary>
    public int PendingSignal { get; set; }
    /// <summary>Stopped inside a system call (an event stop): the next resume finishes it, and that may block.</summary>
    public bool InSyscall { get; set; }

    /// <summary>The number of the syscall instruction being stepped (rax before it ran), or -1.</summary>
    public long SyscallNumber { get; set; } = -1;
    public ulong SyscallArg0 { get; set; }
    public ulong SyscallArg1 { get; set; }
    public ulong SyscallArg2 { get; set; }

    /// <summary>The next step re-runs a syscall the kernel restarts (its number is in orig_rax, not rax).</summary>
    public bool RestartingSyscall { get; set; }

    /// <summary>A signal resumed with, whose handler runs next; the next stop away from <see cref="HandlerResumeIp"/> is its entry.</summary>
    public int HandlerSignal { get; set; }
    public ulong HandlerResumeIp { get; set; }

    /// <summary>The next step may block in the kernel or end the process: do not wait on it alone while others can run.</summary>
    public bool Risky => InSyscall || PendingSignal != 0;

    private long _lastEntryTime = -1;

    /// <summary>True when the last log entry is an instruction at <paramref name="address"/> (no marker after it).</summary>
    public bool LastLoggedIs(ulong address)
    {
        var steps = Log.Steps;
        return steps.Count > 0 && steps[steps.Count - 1] == address;
    }

    public void Append(ulong entry, long time)
    {
        var steps = Log.Steps;
        if (steps.Count == 0 || time != _lastEntryTime + 1) Log.Clock.Add((steps.Count, time));
        steps.Add(entry);
        _lastEntryTime = time;
    }

    public void AppendMarker(StepMarker.Kind kind, ulong argument, long time) => Append(StepMarker.Make(kind, argument), time);

    /// <summary>Takes back the last entry (an instruction that turned out not to run) and its checkpoint.</summary>
    public void RemoveLast()
    {
        var steps = Log.Steps;
        if (steps.Count == 0) return;
        int removed = steps.Count - 1;
        steps.RemoveLast();
        var clock = Log.Clock;
        if (clock.Count > 0 && clock[^1].Index == removed) clock.RemoveAt(clock.Count - 1);
        _lastEntryTime = steps.Count == 0 ? -1 : Log.TimeOf(steps.Count - 1);
    }
}
