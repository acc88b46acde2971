namespace DotnetPtrace.Native.SoftPt;

/// <summary>How <see cref="SoftPtTracer"/> starts the command and when it gives up.</summary>
public sealed class SoftPtTracerOptions
{
    /// <summary>Variables added to (or replacing those of) this process's environment.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public string? WorkingDirectory { get; init; }
    /// <summary>Files the command's stdin/stdout/stderr are redirected to (null: inherited from this process).</summary>
    public string? StandardInputPath { get; init; }
    public string? StandardOutputPath { get; init; }
    public string? StandardErrorPath { get; init; }
    /// <summary>The command's stdout goes to its stderr (wins over <see cref="StandardOutputPath"/>): for `record -o -`,
    /// whose stdout carries the recording.</summary>
    public bool StandardOutputToStandardError { get; init; }
    /// <summary>Kill the tracees and return what was recorded after this many steps (the recording is then Truncated).</summary>
    public long MaxSteps { get; init; } = long.MaxValue;
    /// <summary>
    /// Let the command run untraced this long, then attach to all its threads and single-step from there (perf's
    /// -D/--delay). Null: single-step from its execve. Stepping runs some 40,000 instructions a second, and a .NET
    /// program executes ~10^8 instructions before Main: the delay is what makes tracing its steady state possible.
    /// </summary>
    public TimeSpan? StartDelay { get; init; }
    /// <summary>Stop single-stepping after this long (from the first step), killing launched tracees as on cancellation
    /// (attached ones are detached); null: no limit.</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary>
    /// <see cref="SoftPtTracer.Attach"/>: told, on the tracer thread, once every thread of every process is seized (pid and
    /// number of threads each), before the first step. Keep it short: the processes are stopped meanwhile.
    /// </summary>
    public Action<IReadOnlyList<(int Pid, int Threads)>>? Attached { get; init; }
    /// <summary>Steps a thread runs before the next ready thread gets a turn (only one tracee runs at a time).</summary>
    public int Quantum { get; init; } = 1000;
}
