namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>Feature names as perf spells them (header.c feat_ops[].name), for messages and "missing features".</summary>
public static class FeatureNames
{
    /// <summary>The first feature bit perf 6.1 does not know (HEADER_LAST_FEATURE).</summary>
    public const int Perf61FeatureCount = 32;

    private static readonly string[] Names =
    [
        "RESERVED", "TRACING_DATA", "BUILD_ID", "HOSTNAME", "OSRELEASE", "VERSION", "ARCH", "NRCPUS", "CPUDESC", "CPUID",
        "TOTAL_MEM", "CMDLINE", "EVENT_DESC", "CPU_TOPOLOGY", "NUMA_TOPOLOGY", "BRANCH_STACK", "PMU_MAPPINGS",
        "GROUP_DESC", "AUXTRACE", "STAT", "CACHE", "SAMPLE_TIME", "MEM_TOPOLOGY", "CLOCKID", "DIR_FORMAT",
        "BPF_PROG_INFO", "BPF_BTF", "COMPRESSED", "CPU_PMU_CAPS", "CLOCK_DATA", "HYBRID_TOPOLOGY", "PMU_CAPS",
    ];

    public static string Of(HeaderFeature feature) =>
        (uint)feature < (uint)Names.Length ? Names[(int)feature] : $"FEATURE_{(int)feature}";
}
