namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Bits of the perf.data header's adds_features bitmap (perf's tools/perf/util/header.h <c>HEADER_*</c>). Each set
/// bit has a section {offset, size} in the table that follows the data section, in ascending bit order.
/// </summary>
public enum HeaderFeature
{
    Reserved = 0,
    TracingData = 1,
    BuildId = 2,
    Hostname = 3,
    OsRelease = 4,
    Version = 5,
    Arch = 6,
    NrCpus = 7,
    CpuDesc = 8,
    CpuId = 9,
    TotalMem = 10,
    Cmdline = 11,
    EventDesc = 12,
    CpuTopology = 13,
    NumaTopology = 14,
    BranchStack = 15,
    PmuMappings = 16,
    GroupDesc = 17,
    Auxtrace = 18,
    Stat = 19,
    Cache = 20,
    SampleTime = 21,
    MemTopology = 22,
    ClockId = 23,
    DirFormat = 24,
    BpfProgInfo = 25,
    BpfBtf = 26,
    Compressed = 27,
    CpuPmuCaps = 28,
    ClockData = 29,
    HybridTopology = 30,
    PmuCaps = 31,
}
