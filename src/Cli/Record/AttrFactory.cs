using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Cli.Record;

/// <summary>
/// Fills in the attrs of a recording the way perf record does (evsel__config): what every sample carries, how
/// often to sample, when counting starts, and the sideband event that reports mmaps, comms, forks and switches.
/// All events share one sample_id layout (TID, TIME, CPU, IDENTIFIER) so perf can attribute any record to its attr.
/// </summary>
public static class AttrFactory
{
    /// <summary>The sample_id fields every attr of ours carries, in samples and (sample_id_all) in other records.</summary>
    public const SampleType SampleIdFields = SampleType.Tid | SampleType.Time | SampleType.Cpu | SampleType.Identifier;

    public static EventConfig Sampling(EventSpec spec, RecordOptions options, bool launching, int dataPages)
    {
        var attr = spec.Attr;
        attr.Size = PerfEventAttr.SizeVer8;
        attr.SampleType = SampleIdFields | SampleType.Ip | SampleType.Period;
        if (options.CallGraph) attr.SampleType |= SampleType.Callchain;
        if (spec.IsTracepoint) attr.SampleType |= SampleType.Raw;

        if (options.Period is { } period) attr.SamplePeriod = period;
        else if (options.Frequency is { } freq)
        {
            attr.Flags |= AttrFlags.Freq;
            attr.SampleFreq = freq == ulong.MaxValue ? (ulong)(KernelSettings.MaxSampleRate ?? 4000) : freq;
        }
        else if (spec.IsTracepoint) attr.SamplePeriod = 1;   // every hit, as perf does for tracepoints
        else
        {
            attr.Flags |= AttrFlags.Freq;
            attr.SampleFreq = RecordOptions.DefaultFrequency;
        }
        Common(ref attr, options, launching, dataPages);
        return new EventConfig(spec.Name, attr);
    }

    /// <summary>
    /// An AUX-area event (Intel PT) as perf's intel_pt_recording_options sets it: one "sample" per AUX record
    /// (period 1), the sample_id fields, exclude_guest, and a wakeup each quarter of the AUX area in full-trace mode.
    /// </summary>
    public static EventConfig AuxTrace(EventSpec spec, RecordOptions options, bool launching, int dataPages, long auxBytes)
    {
        var attr = spec.Attr;
        attr.Size = PerfEventAttr.SizeVer8;
        attr.SamplePeriod = 1;
        attr.SampleType = SampleIdFields | SampleType.Ip;
        attr.Flags |= AttrFlags.ExcludeGuest;
        // A wakeup each quarter of the AUX area in full-trace mode; snapshot mode is read on demand (perf sets none).
        if (!options.Snapshot) attr.AuxWatermark = (uint)Math.Min(uint.MaxValue, auxBytes / 4);
        Common(ref attr, options, launching, dataPages);
        return new EventConfig(spec.Name, attr);
    }

    /// <summary>
    /// The sideband event: a software dummy that never samples but makes the kernel report MMAP2, COMM (with
    /// exec), FORK/EXIT and context switches into the same ring as the samples.
    /// </summary>
    public static EventConfig Sideband(RecordOptions options, bool launching, bool excludeKernel, int dataPages)
    {
        var attr = new PerfEventAttr
        {
            Type = (uint)PerfType.Software,
            Config = (ulong)SoftwareEvent.Dummy,
            Size = PerfEventAttr.SizeVer8,
            SamplePeriod = 1,
            SampleType = SampleIdFields | SampleType.Ip,
            Flags = AttrFlags.Mmap | AttrFlags.Mmap2 | AttrFlags.Comm | AttrFlags.CommExec | AttrFlags.Task | AttrFlags.ContextSwitch,
        };
        if (excludeKernel) attr.Flags |= AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv;
        Common(ref attr, options, launching, dataPages);
        return new EventConfig(excludeKernel ? "dummy:u" : "dummy:HG", attr);
    }

    private static void Common(ref PerfEventAttr attr, RecordOptions options, bool launching, int dataPages)
    {
        // Start disabled; a launched command enables everything at its execve, anything else is enabled by us
        // once the whole set is open, so no event runs before its sideband is there.
        attr.Flags |= AttrFlags.Disabled | AttrFlags.SampleIdAll;
        if (launching) attr.Flags |= AttrFlags.EnableOnExec;
        // Follow threads and children of the traced tasks (meaningless but harmless system-wide). Not per-thread: the
        // kernel refuses to mmap an inherited event opened with cpu -1 (perf: "inheritance is automatically disabled").
        if (!options.SystemWide && !options.PerThread) attr.Flags |= AttrFlags.Inherit;
        // Wake the poller when a quarter of the ring is full; a periodic flush covers quiet rings.
        attr.Flags |= AttrFlags.Watermark;
        attr.WakeupWatermark = (uint)Math.Max(Environment.SystemPageSize, dataPages * (long)Environment.SystemPageSize / 4);
    }
}
