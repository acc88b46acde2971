using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// One event of a recording as perf.data stores it: its attr, the ids the kernel gave each of its file
/// descriptors (PERF_EVENT_IOC_ID; they appear in samples as ID/IDENTIFIER), and the name perf tools show
/// (e.g. "cpu-clock", "dummy:u").
/// </summary>
public sealed record EventAttrEntry(PerfEventAttr Attr, ulong[] Ids, string Name);
