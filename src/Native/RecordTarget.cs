namespace DotnetPtrace.Native;

/// <summary>What a recording follows. Every kind is recorded per CPU so that inherit works and each CPU has one ring.</summary>
public abstract record RecordTarget
{
    /// <summary>The pid (or tid) argument of perf_event_open for each task opened; -1 means every task.</summary>
    public abstract IReadOnlyList<int> Tasks { get; }

    /// <summary>A command we launched: its pid, with inherit so threads and children are followed.</summary>
    public sealed record Command(int Pid) : RecordTarget
    {
        public override IReadOnlyList<int> Tasks => [Pid];
    }

    /// <summary>Existing threads (-p expands a process to all of /proc/PID/task; -t names threads).</summary>
    public sealed record Threads(IReadOnlyList<int> Tids, IReadOnlyList<int> Pids) : RecordTarget
    {
        public override IReadOnlyList<int> Tasks => Tids;
    }

    /// <summary>Every task on the chosen CPUs (-a / -C).</summary>
    public sealed record SystemWide : RecordTarget
    {
        public override IReadOnlyList<int> Tasks => [-1];
    }
}
