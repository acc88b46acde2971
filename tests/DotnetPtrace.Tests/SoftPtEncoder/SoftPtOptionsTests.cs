using System.Globalization;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.IntelPt;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtEncoder;

/// <summary>
/// The intel_pt terms against the kernel's PMU format files (a real sysfs capture) and against a perf.data that
/// Linux perf 4.14 recorded on a real Skylake with its default intel_pt config.
/// </summary>
public sealed class SoftPtOptionsTests(ITestOutputHelper output)
{
    private static string FormatDir => Path.Combine(AppContext.BaseDirectory, "TestData", "sysfs", "bus", "event_source", "devices", "intel_pt", "format");

    /// <summary>The mask of a format file's "config:N" or "config:A-B".</summary>
    private static ulong FormatMask(string term)
    {
        string spec = File.ReadAllText(Path.Combine(FormatDir, term)).Trim();
        Assert.StartsWith("config:", spec);
        string[] range = spec["config:".Length..].Split('-');
        int lo = int.Parse(range[0], CultureInfo.InvariantCulture);
        int hi = range.Length > 1 ? int.Parse(range[1], CultureInfo.InvariantCulture) : lo;
        ulong mask = 0;
        for (int b = lo; b <= hi; b++) mask |= 1UL << b;
        return mask;
    }

    [Fact]
    public void Config_bits_are_the_pmu_format_bits()
    {
        Assert.Equal(IntelPtConfigBits.Pt, FormatMask("pt"));
        Assert.Equal(IntelPtConfigBits.Cyc, FormatMask("cyc"));
        Assert.Equal(IntelPtConfigBits.Mtc, FormatMask("mtc"));
        Assert.Equal(IntelPtConfigBits.Tsc, FormatMask("tsc"));
        Assert.Equal(IntelPtConfigBits.NoRetComp, FormatMask("noretcomp"));
        Assert.Equal(IntelPtConfigBits.Branch, FormatMask("branch"));
        Assert.Equal(IntelPtConfigBits.MtcPeriodMask, FormatMask("mtc_period"));
        Assert.Equal(IntelPtConfigBits.PsbPeriodMask, FormatMask("psb_period"));

        var options = new SoftPtOptions { RetCompression = false, Cyc = true, Tsc = false, MtcPeriod = 9, PsbPeriod = 5, Branch = false };
        ulong config = options.Config;
        Assert.Equal(FormatMask("noretcomp") | FormatMask("cyc") | FormatMask("mtc") | FormatMask("pt")
            | (9UL << 14) | (5UL << 24), config);
        var back = SoftPtOptions.FromConfig(config);
        Assert.Equal(options.Config, back.Config);
        Assert.Equal(options with { }, back);
    }

    [Fact]
    public void Defaults_are_the_config_and_auxtrace_info_masks_perf_records()
    {
        string file = Path.GetFullPath(Path.Combine(PtTestSupport.RepoRoot, "..", "shared", "testdata", "perf-data", "perf.data.intel_pt-4.14"));
        if (!File.Exists(file))
        {
            output.WriteLine($"skipped: {file} is absent");
            return;
        }
        using var reader = PerfDataReader.Open(file);
        IntelPtAuxtraceInfo? info = null;
        while (info is null && reader.TryRead(out var record))
            if (record.Type == PerfRecordType.AuxtraceInfo) info = IntelPtAuxtraceInfo.TryParse(record.Bytes);
        Assert.NotNull(info);
        var attr = reader.Attrs.Attrs.Single(a => a.Attr.Type == info.PmuType);
        var defaults = new SoftPtOptions();
        Assert.Equal(attr.Attr.Config, defaults.Config); // 0x300e601: pt, tsc, mtc, branch, mtc_period=3, psb_period=3

        var ours = defaults.ApplyTo(new IntelPtAuxtraceInfo());
        Assert.Equal(info.TscBit, ours.TscBit);
        Assert.Equal(info.NoRetCompBit, ours.NoRetCompBit);
        Assert.Equal(info.MtcBit, ours.MtcBit);
        Assert.Equal(info.MtcFreqBits, ours.MtcFreqBits);
        Assert.Equal(info.CycBit, ours.CycBit);
        Assert.Equal(3, info.MtcFreqOf(defaults.Config));
        Assert.Equal(defaults.CtcRatioNumerator, ours.TscCtcNumerator);
        Assert.Equal(defaults.CtcRatioDenominator, ours.TscCtcDenominator);
        Assert.Equal(defaults.MaxNonTurboRatio, (byte)ours.MaxNonTurboRatio);
    }

    [Theory]
    [InlineData(16, 3, 200u, 2u, "mtc_period 16")]
    [InlineData(3, -1, 200u, 2u, "psb_period -1")]
    [InlineData(3, 3, 201u, 2u, "not a whole number")]
    [InlineData(3, 3, 0u, 2u, "non-zero")]
    [InlineData(3, 3, 1026u, 2u, "9-bit")]
    public void Bad_options_are_refused_with_the_reason(int mtcPeriod, int psbPeriod, uint numerator, uint denominator, string reason)
    {
        var options = new SoftPtOptions { MtcPeriod = mtcPeriod, PsbPeriod = psbPeriod, CtcRatioNumerator = numerator, CtcRatioDenominator = denominator };
        Assert.Contains(reason, options.Validate());
        var e = Assert.Throws<ArgumentException>(() => new Decoders.SoftPt.SoftPtEncoder(options));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Clock_and_timing_config()
    {
        var o = new SoftPtOptions { TscBase = 5000, TscPerStep = 7, CtcRatioNumerator = 300, CtcRatioDenominator = 3, MtcPeriod = 4 };
        Assert.Null(o.Validate());
        Assert.Equal(5000UL + 7 * 1234, o.TscOf(1234));
        Assert.Equal(100u, o.TscPerCtc);
        Assert.Equal(1600UL, o.TscPerMtcPeriod);
        Assert.Equal(1 << 14, new SoftPtOptions { PsbPeriod = 3 }.PsbPeriodBytes);
        var timing = o.TimingConfig;
        Assert.Equal(4, timing.MtcFreq);
        Assert.Equal(300u, timing.CtcRatioNumerator);
        Assert.Equal(3u, timing.CtcRatioDenominator);
        Assert.Equal(o.MaxNonTurboRatio, (byte)timing.NominalFrequency);
    }
}
