using System.Globalization;
using System.Runtime.Intrinsics.X86;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// Fills Intel PT's AUXTRACE_INFO the way perf's intel_pt_info_fill does: the PMU type and the config bit masks of
/// its format terms (so a decoder knows where tsc/mtc/cyc/noretcomp live), the user page's time conversion, the
/// TSC:CTC ratio from CPUID leaf 0x15, and max_nonturbo_ratio from sysfs.
/// </summary>
public static class IntelPtInfoFactory
{
    public static IntelPtAuxtraceInfo Create(Pmu intelPt, TimeConversion time, bool snapshot, bool perCpuMmaps,
        ulong haveSchedSwitch, string filter = "", (uint Numerator, uint Denominator)? tscCtc = null)
    {
        var (numerator, denominator) = tscCtc ?? TscCtcRatio();
        return new IntelPtAuxtraceInfo
        {
            PmuType = intelPt.Type,
            TimeShift = time.TimeShift,
            TimeMult = time.TimeMult,
            TimeZero = time.TimeZero,
            CapUserTimeZero = time.CapUserTimeZero,
            TscBit = Mask(intelPt, "tsc"),
            NoRetCompBit = Mask(intelPt, "noretcomp"),
            HaveSchedSwitch = haveSchedSwitch,
            Snapshot = snapshot,
            PerCpuMmaps = perCpuMmaps,
            MtcBit = Mask(intelPt, "mtc"),
            MtcFreqBits = Mask(intelPt, "mtc_period"),
            TscCtcNumerator = numerator,
            TscCtcDenominator = denominator,
            CycBit = Mask(intelPt, "cyc"),
            MaxNonTurboRatio = ulong.TryParse(intelPt.ReadAttribute("max_nonturbo_ratio"), NumberStyles.None, CultureInfo.InvariantCulture, out ulong r) ? r : 0,
            Filter = filter,
        };
    }

    private static ulong Mask(Pmu pmu, string term) => pmu.Format.TryGetValue(term, out var f) ? f.Mask : 0;

    /// <summary>CPUID.15H: EBX/EAX is the TSC frequency over the core crystal clock (0/0 when not enumerated).</summary>
    public static (uint Numerator, uint Denominator) TscCtcRatio()
    {
        if (!X86Base.IsSupported) return (0, 0);
        var (max, _, _, _) = X86Base.CpuId(0, 0);
        if (max < 0x15) return (0, 0);
        var (eax, ebx, _, _) = X86Base.CpuId(0x15, 0);
        return ((uint)ebx, (uint)eax);
    }
}
