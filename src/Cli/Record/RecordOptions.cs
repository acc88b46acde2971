namespace DotnetPtrace.Cli.Record;

/// <summary>Everything `record` was asked to do, after parsing and before any syscall.</summary>
public sealed record RecordOptions
{
    public IReadOnlyList<string> Events { get; init; } = [];
    public string Output { get; init; } = "perf.data";
    public ulong? Frequency { get; init; }
    public ulong? Period { get; init; }
    public bool CallGraph { get; init; }
    public int DataPages { get; init; } = 128;   // 512 KiB, perf's default with the default mlock limit
    /// <summary>AUX pages per CPU for intel_pt (-m ,AUX); null: perf's default (4 MiB privileged, 128 KiB otherwise).</summary>
    public int? AuxPages { get; init; }
    public IReadOnlyList<int> Pids { get; init; } = [];
    public IReadOnlyList<int> Tids { get; init; } = [];
    public bool SystemWide { get; init; }
    public string? CpuList { get; init; }
    public TimeSpan? Duration { get; init; }
    public int Verbosity { get; init; }
    public bool Quiet { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];
    /// <summary>-S/--snapshot: AUX snapshot mode (overwrite ring, dumped on SIGUSR2 and at exit).</summary>
    public bool Snapshot { get; init; }
    /// <summary>--snapshot=SIZE: the most bytes per snapshot and CPU; null: the AUX area's size.</summary>
    public ulong? SnapshotSize { get; init; }
    /// <summary>--per-thread: one ring per task with cpu -1 (no inheritance), instead of one ring per CPU.</summary>
    public bool PerThread { get; init; }
    /// <summary>--filter: Intel PT address filters in perf's syntax (several are joined).</summary>
    public IReadOnlyList<string> Filters { get; init; } = [];
    /// <summary>--soft-pt: single-step the command and encode it as Intel PT (software emulation).</summary>
    public bool SoftPt { get; init; }
    /// <summary>--ground-truth FILE (with --soft-pt): the executed addresses per thread, one per line.</summary>
    public string? GroundTruth { get; init; }
    /// <summary>--dotnet-jit: a launched command gets DOTNET_PerfMapEnabled=1; -p PIDs are asked over the diagnostics IPC.</summary>
    public bool DotnetJit { get; init; }
    /// <summary>-D/--delay (with --soft-pt): let the command run untraced this long, then attach and single-step.</summary>
    public TimeSpan? Delay { get; init; }
    /// <summary>The command line we were started with, for the CMDLINE feature.</summary>
    public IReadOnlyList<string> OwnCommandLine { get; init; } = [];

    /// <summary>perf's default: 4000 Hz when neither -F nor -c is given.</summary>
    public const ulong DefaultFrequency = 4000;
}
