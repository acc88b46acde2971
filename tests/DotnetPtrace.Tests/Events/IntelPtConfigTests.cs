using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

public class IntelPtConfigTests
{
    // pt (bit 0) 0x1 + mtc (bit 9) 0x200 + tsc (bit 10) 0x400 + branch (bit 13) 0x2000
    // + mtc_period=3 at bits 14-17: 3 << 14 = 0xc000 + psb_period=3 at bits 24-27: 3 << 24 = 0x3000000
    // = 0x300e601, the config of the real quipper perf.data file in the reference notes.
    private const ulong PerfDefaultConfig = 0x300e601;

    private readonly EventParser _parser = FakeSysfs.Parser();

    [Fact]
    public void Explicit_terms_give_the_known_config()
    {
        var spec = _parser.Parse("intel_pt/pt,mtc,tsc,branch,mtc_period=3,psb_period=3/");

        Assert.Equal(8u, spec.Attr.Type);
        Assert.Equal(PerfDefaultConfig, spec.Attr.Config);
        Assert.Equal(0UL, spec.Attr.Config1);
        Assert.Equal("intel_pt", spec.PmuName);
    }

    [Fact]
    public void Explicit_terms_encode_the_same_through_the_pmu_alone()
    {
        var pt = FakeSysfs.Pmus().Find("intel_pt")!;
        var attr = default(PerfEventAttr);

        pt.Encode([("pt", null), ("mtc", null), ("tsc", null), ("branch", null), ("mtc_period", 3), ("psb_period", 3)], ref attr);

        Assert.Equal(PerfDefaultConfig, attr.Config);
    }

    [Fact]
    public void Empty_terms_start_from_perfs_default_config()
    {
        // mtc_periods 0x249 (bits 0,3,6,9) and psb_periods 0x3f both allow 3, the target perf picks.
        Assert.Equal(PerfDefaultConfig, _parser.Parse("intel_pt//u").Attr.Config);
    }

    [Fact]
    public void User_terms_override_the_default()
    {
        var spec = _parser.Parse("intel_pt/cyc,mtc=0,noretcomp,psb_period=5/");

        ulong expected = (PerfDefaultConfig & ~(1UL << 9) & ~(0xfUL << 24)) | 1UL << 1 | 1UL << 11 | 5UL << 24;
        Assert.Equal(expected, spec.Attr.Config);
    }

    [Theory]
    [InlineData(0x249UL, 3, 3UL)]   // 3 supported: take it
    [InlineData(0x241UL, 3, 0UL)]   // 0, 6, 9: highest not above 3 is 0
    [InlineData(0x240UL, 3, 6UL)]   // 6, 9: none at or below 3, take the lowest
    [InlineData(0x3fUL, 3, 3UL)]
    [InlineData(0x4UL, 3, 2UL)]
    public void PickBit_matches_perf(ulong bits, int target, ulong expected)
    {
        Assert.Equal(expected, IntelPtDefaultConfig.PickBit(bits, target));
    }

    [Fact]
    public void Default_terms_follow_the_caps()
    {
        string root = Directory.CreateTempSubdirectory("ptrace-pt-").FullName;
        try
        {
            string pt = Path.Combine(root, "intel_pt");
            Directory.CreateDirectory(Path.Combine(pt, "format"));
            Directory.CreateDirectory(Path.Combine(pt, "caps"));
            File.WriteAllText(Path.Combine(pt, "type"), "9");
            foreach (var (term, bits) in new[] { ("tsc", "config:10"), ("mtc", "config:9"), ("mtc_period", "config:14-17"), ("psb_period", "config:24-27") })
                File.WriteAllText(Path.Combine(pt, "format", term), bits);
            File.WriteAllText(Path.Combine(pt, "caps", "mtc"), "1");
            File.WriteAllText(Path.Combine(pt, "caps", "mtc_periods"), "240");   // 6, 9
            File.WriteAllText(Path.Combine(pt, "caps", "psb_cyc"), "0");        // no psb_period choice

            var terms = IntelPtDefaultConfig.Terms(new PmuCatalog(root).Find("intel_pt")!);

            // No pt/branch format files: perf leaves them out, and so do we.
            Assert.Equal(new (string, ulong?)[] { ("tsc", null), ("mtc", null), ("mtc_period", 6) }, terms);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Mtc_period_too_wide_names_the_bits()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("intel_pt/mtc_period=16/"));
        Assert.Contains("config:14-17", e.Message);
    }
}
