using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// perf's names for events that a file does not name (old files have no EVENT_DESC): the generic hardware and
/// software event names of tools/perf/util/evsel.c, with perf's ":u"/":k" style modifiers.
/// </summary>
public static class EventNames
{
    private static readonly string[] Hardware =
        ["cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses", "bus-cycles",
         "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles"];
    private static readonly string[] Software =
        ["cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults",
         "major-faults", "alignment-faults", "emulation-faults", "dummy", "bpf-output", "cgroup-switches"];

    public static string Default(in PerfEventAttr attr)
    {
        string name = (PerfType)attr.Type switch
        {
            PerfType.Hardware when attr.Config < (ulong)Hardware.Length => Hardware[attr.Config],
            PerfType.Software when attr.Config < (ulong)Software.Length => Software[attr.Config],
            PerfType.Tracepoint => $"tracepoint:{attr.Config}",
            PerfType.Raw => $"r{attr.Config:x}",
            _ => $"{attr.Type}:0x{attr.Config:x}",
        };
        return name + Modifiers(attr);
    }

    // evsel__add_modifiers: only the excluded-levels case that perf prints for one of user/kernel.
    private static string Modifiers(in PerfEventAttr attr)
    {
        bool exu = attr.Has(AttrFlags.ExcludeUser), exk = attr.Has(AttrFlags.ExcludeKernel), exh = attr.Has(AttrFlags.ExcludeHv);
        if (!exu && !exk && !exh) return "";
        string m = "";
        if (!exu) m += "u";
        if (!exk) m += "k";
        if (!exh) m += "h";
        return m.Length == 0 ? "" : ":" + m;
    }
}
