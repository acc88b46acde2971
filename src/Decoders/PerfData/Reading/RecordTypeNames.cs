using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>perf's names for record types (perf_event__name), as `perf report -D` and `--stats` print them.</summary>
public static class RecordTypeNames
{
    public static bool IsKnown(PerfRecordType type) => (uint)type is >= 1 and <= 21 or >= 64 and <= 83;

    /// <summary>The short name of `perf report --stats` ("MMAP", "ATTR"), or "UNKNOWN(n)".</summary>
    public static string Short(PerfRecordType type) => type switch
    {
        PerfRecordType.Mmap => "MMAP",
        PerfRecordType.Lost => "LOST",
        PerfRecordType.Comm => "COMM",
        PerfRecordType.Exit => "EXIT",
        PerfRecordType.Throttle => "THROTTLE",
        PerfRecordType.Unthrottle => "UNTHROTTLE",
        PerfRecordType.Fork => "FORK",
        PerfRecordType.Read => "READ",
        PerfRecordType.Sample => "SAMPLE",
        PerfRecordType.Mmap2 => "MMAP2",
        PerfRecordType.Aux => "AUX",
        PerfRecordType.ItraceStart => "ITRACE_START",
        PerfRecordType.LostSamples => "LOST_SAMPLES",
        PerfRecordType.Switch => "SWITCH",
        PerfRecordType.SwitchCpuWide => "SWITCH_CPU_WIDE",
        PerfRecordType.Namespaces => "NAMESPACES",
        PerfRecordType.Ksymbol => "KSYMBOL",
        PerfRecordType.BpfEvent => "BPF_EVENT",
        PerfRecordType.Cgroup => "CGROUP",
        PerfRecordType.TextPoke => "TEXT_POKE",
        PerfRecordType.AuxOutputHwId => "AUX_OUTPUT_HW_ID",
        PerfRecordType.HeaderAttr => "ATTR",
        PerfRecordType.HeaderEventType => "EVENT_TYPE",
        PerfRecordType.HeaderTracingData => "TRACING_DATA",
        PerfRecordType.HeaderBuildId => "BUILD_ID",
        PerfRecordType.FinishedRound => "FINISHED_ROUND",
        PerfRecordType.IdIndex => "ID_INDEX",
        PerfRecordType.AuxtraceInfo => "AUXTRACE_INFO",
        PerfRecordType.Auxtrace => "AUXTRACE",
        PerfRecordType.AuxtraceError => "AUXTRACE_ERROR",
        PerfRecordType.ThreadMap => "THREAD_MAP",
        PerfRecordType.CpuMap => "CPU_MAP",
        PerfRecordType.StatConfig => "STAT_CONFIG",
        PerfRecordType.Stat => "STAT",
        PerfRecordType.StatRound => "STAT_ROUND",
        PerfRecordType.EventUpdate => "EVENT_UPDATE",
        PerfRecordType.TimeConv => "TIME_CONV",
        PerfRecordType.HeaderFeature => "FEATURE",
        PerfRecordType.Compressed => "COMPRESSED",
        PerfRecordType.FinishedInit => "FINISHED_INIT",
        PerfRecordType.Compressed2 => "COMPRESSED2",
        _ => $"UNKNOWN({(uint)type})",
    };

    /// <summary>The PERF_RECORD_* name of `perf report -D`.</summary>
    public static string Long(PerfRecordType type) => IsKnown(type) ? "PERF_RECORD_" + Short(type) switch
    {
        "ATTR" => "HEADER_ATTR",
        "EVENT_TYPE" => "HEADER_EVENT_TYPE",
        "TRACING_DATA" => "HEADER_TRACING_DATA",
        "BUILD_ID" => "HEADER_BUILD_ID",
        "FEATURE" => "HEADER_FEATURE",
        var s => s,
    } : $"PERF_RECORD_UNKNOWN({(uint)type})";
}
