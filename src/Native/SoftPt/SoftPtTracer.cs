using System.Runtime.ExceptionServices;
using DotnetPtrace.Decoders.SoftPt;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// Software Intel PT, ground-truth half: runs a command under ptrace and single-steps every user-mode instruction
/// of every thread and child process from its execve on (or, with <see cref="Attach"/>, of running processes from where
/// they are until they are detached), recording what ran (<see cref="ExecutionRecording"/>).
/// All ptrace calls happen on one dedicated thread, the one that seized the command (ptrace binds tracees to a
/// tracer thread). It waits only for the tids it traces, never waitpid(-1), so exit statuses of other children of
/// this process (System.Diagnostics.Process ones) are left alone.
/// </summary>
public static class SoftPtTracer
{
    /// <summary>
    /// Traces <paramref name="command"/> to its end (or until cancelled, or <see cref="SoftPtTracerOptions.MaxSteps"/>:
    /// the tracees are then killed and what was recorded is returned, marked Truncated). Throws
    /// <see cref="CommandNotFoundException"/> when the command cannot run, <see cref="PerfException"/> when ptrace is refused.
    /// </summary>
    public static ExecutionRecording Run(IReadOnlyList<string> command, SoftPtTracerOptions? options = null, CancellationToken cancellationToken = default) =>
        RunOnTracerThread(Prepare(command, options, cancellationToken));

    /// <summary>
    /// Seizes every thread of the running processes <paramref name="pids"/> (and follows the threads and children they
    /// create) and single-steps them until they end, <see cref="SoftPtTracerOptions.Duration"/> passes, the token is
    /// cancelled or <see cref="SoftPtTracerOptions.MaxSteps"/> is reached; then every thread is detached and the
    /// processes carry on untraced (nothing is killed, no signal is lost or added). The launch options (environment,
    /// redirections, <see cref="SoftPtTracerOptions.StartDelay"/>) do not apply. Throws <see cref="PerfException"/> when
    /// a process cannot be attached to (gone, a zombie, traced by another tracer, not permitted); what was seized
    /// before is detached again.
    /// </summary>
    public static ExecutionRecording Attach(IReadOnlyList<int> pids, SoftPtTracerOptions? options = null, CancellationToken cancellationToken = default)
    {
        Ptrace.EnsureSupported();
        if (pids.Count == 0) throw new ArgumentException("no process to attach to", nameof(pids));
        return RunOnTracerThread(new StepSession(null, [], pids, options ?? new SoftPtTracerOptions(), cancellationToken));
    }

    private static ExecutionRecording RunOnTracerThread(StepSession session)
    {
        ExecutionRecording? result = null;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try { result = session.Run(); }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
        }) { IsBackground = true, Name = "soft-pt tracer" };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result!;
    }

    /// <summary><see cref="Run"/> on its dedicated thread, without blocking the caller.</summary>
    public static Task<ExecutionRecording> RunAsync(IReadOnlyList<string> command, SoftPtTracerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var session = Prepare(command, options, cancellationToken);
        var done = new TaskCompletionSource<ExecutionRecording>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { done.SetResult(session.Run()); }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true, Name = "soft-pt tracer" };
        thread.Start();
        return done.Task;
    }

    private static StepSession Prepare(IReadOnlyList<string> command, SoftPtTracerOptions? options, CancellationToken cancellationToken)
    {
        Ptrace.EnsureSupported();
        if (command.Count == 0) throw new ArgumentException("empty command", nameof(command));
        string path = CommandResolver.Resolve(command[0]);
        return new StepSession(path, command, null, options ?? new SoftPtTracerOptions(), cancellationToken);
    }
}
