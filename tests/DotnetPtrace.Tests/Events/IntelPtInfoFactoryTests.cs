using DotnetPtrace.Native;
using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Tests.Events;

public class IntelPtInfoFactoryTests
{
    /// <summary>
    /// The bit masks come from the PMU's format strings; on the real format files they must be the values perf wrote
    /// on real Skylake hardware (the AUXTRACE_INFO of ../shared/testdata/perf-data/perf.data.intel_pt-4.14).
    /// </summary>
    [Fact]
    public void Masks_from_the_real_format_files_equal_perfs_on_real_hardware()
    {
        var pmu = FakeSysfs.Pmus().Find("intel_pt")!;
        var time = new TimeConversion(31, 1789569706, 18446744041015200657, 0, 0, CapUserTimeZero: true, CapUserTimeShort: false);
        var info = IntelPtInfoFactory.Create(pmu, time, snapshot: false, perCpuMmaps: true, haveSchedSwitch: 3, tscCtc: (100, 2));
        Assert.Equal(pmu.Type, info.PmuType);
        Assert.Equal(0x400UL, info.TscBit);
        Assert.Equal(0x800UL, info.NoRetCompBit);
        Assert.Equal(0x200UL, info.MtcBit);
        Assert.Equal(0x3c000UL, info.MtcFreqBits);
        Assert.Equal(0x2UL, info.CycBit);
        Assert.Equal(ulong.Parse(File.ReadAllText(Path.Combine(FakeSysfs.PmuRoot, "intel_pt", "max_nonturbo_ratio")).Trim()), info.MaxNonTurboRatio);
        Assert.Equal(152, info.ToRecord().Length);   // the size perf 6.1 reads in full (17 priv words)
    }

    [Fact]
    public void The_tsc_ctc_ratio_comes_from_cpuid_leaf_15()
    {
        var (numerator, denominator) = IntelPtInfoFactory.TscCtcRatio();
        // Either enumerated (both non-zero) or not at all; a half-filled ratio would mislead the decoder.
        Assert.Equal(numerator == 0, denominator == 0);
    }
}
