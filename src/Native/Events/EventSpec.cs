using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// A parsed <c>-e</c> event: the name perf would print for it and the part of perf_event_attr the event text decides
/// (type, config, config1-3, exclude_user/kernel/hv, precise_ip). Sampling, size and the other flags are the
/// recorder's business and are left zero.
/// </summary>
/// <param name="Name">Canonical text as perf prints it: "cpu-clock", "context-switches:u" (for "cs:u"),
/// "sched:sched_switch", "intel_pt//u".</param>
public sealed record EventSpec(string Name, PerfEventAttr Attr)
{
    /// <summary>For tracepoints, the tracefs system ("sched").</summary>
    public string? TracepointSystem { get; init; }

    /// <summary>For tracepoints, the event name within the system ("sched_switch").</summary>
    public string? TracepointName { get; init; }

    /// <summary>For pmu/terms/ events, the sysfs PMU name ("intel_pt"); null for built-in, raw and tracepoint events.</summary>
    public string? PmuName { get; init; }

    public bool IsTracepoint => TracepointSystem is not null;

    public override string ToString() => Name;
}
