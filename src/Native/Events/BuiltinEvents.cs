using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// perf's named software (type 1) and generic hardware (type 0) events, with the spellings perf accepts
/// (tools/perf/util/parse-events.c event_symbols_sw/hw). The first spelling of each is the name perf prints for it
/// (evsel__sw_names/evsel__hw_names), e.g. "cs" and "context-switches" both print as "context-switches".
/// Whether the machine can count a hardware event is decided when it is opened, not here.
/// </summary>
public static class BuiltinEvents
{
    private static readonly (BuiltinEvent Event, string[] Aliases)[] Table =
    [
        (Software("cpu-clock", SoftwareEvent.CpuClock), []),
        (Software("task-clock", SoftwareEvent.TaskClock), []),
        (Software("page-faults", SoftwareEvent.PageFaults), ["faults"]),
        (Software("context-switches", SoftwareEvent.ContextSwitches), ["cs"]),
        (Software("cpu-migrations", SoftwareEvent.CpuMigrations), ["migrations"]),
        (Software("minor-faults", SoftwareEvent.PageFaultsMin), []),
        (Software("major-faults", SoftwareEvent.PageFaultsMaj), []),
        (Software("alignment-faults", SoftwareEvent.AlignmentFaults), []),
        (Software("emulation-faults", SoftwareEvent.EmulationFaults), []),
        (Software("dummy", SoftwareEvent.Dummy), []),
        (Software("bpf-output", SoftwareEvent.BpfOutput), []),
        (Software("cgroup-switches", SoftwareEvent.CgroupSwitches), []),

        (Hardware("cycles", HardwareEvent.CpuCycles), ["cpu-cycles"]),
        (Hardware("instructions", HardwareEvent.Instructions), []),
        (Hardware("cache-references", HardwareEvent.CacheReferences), []),
        (Hardware("cache-misses", HardwareEvent.CacheMisses), []),
        (Hardware("branches", HardwareEvent.BranchInstructions), ["branch-instructions"]),
        (Hardware("branch-misses", HardwareEvent.BranchMisses), []),
        (Hardware("bus-cycles", HardwareEvent.BusCycles), []),
        (Hardware("stalled-cycles-frontend", HardwareEvent.StalledCyclesFrontend), ["idle-cycles-frontend"]),
        (Hardware("stalled-cycles-backend", HardwareEvent.StalledCyclesBackend), ["idle-cycles-backend"]),
        (Hardware("ref-cycles", HardwareEvent.RefCpuCycles), []),
    ];

    private static readonly Dictionary<string, BuiltinEvent> BySpelling = Table
        .SelectMany(entry => entry.Aliases.Append(entry.Event.Name).Select(spelling => (spelling, entry.Event)))
        .ToDictionary(pair => pair.spelling, pair => pair.Event, StringComparer.Ordinal);

    /// <summary>Each event once, under its canonical name.</summary>
    public static IReadOnlyList<BuiltinEvent> All { get; } = Table.Select(entry => entry.Event).ToList();

    /// <summary>Every accepted spelling, aliases included.</summary>
    public static IEnumerable<string> Spellings => BySpelling.Keys;

    /// <summary>Looks up a spelling such as "cs" or "cpu-cycles" (case-sensitive, as in perf).</summary>
    public static bool TryFind(string spelling, out BuiltinEvent builtin) =>
        BySpelling.TryGetValue(spelling, out builtin!);

    private static BuiltinEvent Software(string name, SoftwareEvent config) => new(name, PerfType.Software, (ulong)config);

    private static BuiltinEvent Hardware(string name, HardwareEvent config) => new(name, PerfType.Hardware, (ulong)config);
}
