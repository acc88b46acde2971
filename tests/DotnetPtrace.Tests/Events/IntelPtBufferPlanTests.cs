using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Tests.Events;

/// <summary>
/// AUX and snapshot sizes as perf 6.1's intel_pt_recording_options chooses and checks them (the rules and messages of
/// tools/perf/arch/x86/util/intel-pt.c, restated as cases): defaults, derived sizes, and refusals.
/// </summary>
public class IntelPtBufferPlanTests
{
    private const int Page = 4096;

    [Theory]
    // full trace: 4 MiB privileged, 128 KiB otherwise, or -m as given
    [InlineData(true, null, false, null, 1024, 0UL)]
    [InlineData(false, null, false, null, 32, 0UL)]
    [InlineData(true, 16, false, null, 16, 0UL)]
    // snapshot: the snapshot size defaults to the AUX size...
    [InlineData(true, null, true, null, 1024, 4UL << 20)]
    [InlineData(false, 8, true, null, 8, 8UL * Page)]
    // ...an AUX size defaults to the snapshot size rounded up to a power of two pages...
    [InlineData(true, null, true, 100_000UL, 32, 100_000UL)]
    [InlineData(true, null, true, 4096UL, 1, 4096UL)]
    // ...and both may be given
    [InlineData(true, 64, true, 65536UL, 64, 65536UL)]
    public void Sizes_are_chosen_as_perf_chooses_them(bool privileged, int? auxPages, bool snapshot, ulong? snapshotSize, int expectedPages, ulong expectedSnapshot)
    {
        var plan = IntelPtBufferPlan.Choose(privileged, auxPages, snapshot, snapshotSize, psbPeriodBytes: 0, Page);
        Assert.Equal((expectedPages, expectedSnapshot), (plan.AuxPages, plan.SnapshotSize));
    }

    [Theory]
    [InlineData(1, false, null, "at least 8 KiB")]           // full trace: 8 KiB minimum
    [InlineData(16, true, 65537UL, "cannot be larger than the AUX area (65536 bytes; raise it with -m ,32)")]
    public void Sizes_perf_refuses_are_refused_with_the_fix(int auxPages, bool snapshot, ulong? snapshotSize, string why)
    {
        var e = Assert.Throws<EventParseException>(() => IntelPtBufferPlan.Choose(true, auxPages, snapshot, snapshotSize, 0, Page));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void A_snapshot_too_small_for_the_psb_period_is_warned_about()
    {
        // perf: "Intel PT snapshot size (%zu) may be too small for PSB period (%zu)" when size <= psb + 256.
        Assert.NotNull(IntelPtBufferPlan.Choose(true, null, true, 16384 + 256, psbPeriodBytes: 16384, Page).Warning);
        Assert.Null(IntelPtBufferPlan.Choose(true, null, true, 16384 + 257, psbPeriodBytes: 16384, Page).Warning);
    }

    [Fact]
    public void The_psb_period_comes_from_the_config()
    {
        // psb_period=3 (perf's default) is 2^(3+11) = 16 KiB; the field sits at config:24-27 in the fake sysfs.
        var pt = FakeSysfs.Pmus().Find("intel_pt")!;
        Assert.Equal(16384UL, IntelPtBufferPlan.PsbPeriodBytes(pt, FakeSysfs.Parser().Parse("intel_pt//u").Attr.Config));
        Assert.Equal(2048UL, IntelPtBufferPlan.PsbPeriodBytes(pt, FakeSysfs.Parser().Parse("intel_pt/psb_period=0/u").Attr.Config));
    }

    [Theory]
    [InlineData("65536", 65536UL)]
    [InlineData("0x10000", 65536UL)]     // perf: strtoull(str, &endptr, 0)
    [InlineData("64K", 65536UL)]
    [InlineData("4M", 4UL << 20)]
    [InlineData("e4096", 4096UL)]        // perf's leading 'e' (snapshot at exit)
    [InlineData("12Q", null)]
    [InlineData("", null)]
    [InlineData("-5", null)]
    public void Snapshot_sizes_parse_as_perf_and_with_units(string text, ulong? expected) =>
        Assert.Equal(expected, IntelPtBufferPlan.ParseSize(text));
}
