using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

public class PmuCatalogTests
{
    [Fact]
    public void Lists_the_fake_pmus_sorted()
    {
        Assert.Equal(["cpu", "intel_pt", "software", "tracepoint"], FakeSysfs.Pmus().Names);
    }

    [Theory]
    [InlineData("software", 1u)]
    [InlineData("tracepoint", 2u)]
    [InlineData("cpu", 4u)]
    [InlineData("intel_pt", 8u)]
    public void Reads_type_numbers(string name, uint type)
    {
        var pmu = FakeSysfs.Pmus().Find(name);
        Assert.NotNull(pmu);
        Assert.Equal(name, pmu.Name);
        Assert.Equal(type, pmu.Type);
    }

    [Theory]
    [InlineData("nosuchpmu")]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("cpu/../intel_pt")]
    public void Find_returns_null_for_unknown_or_path_like_names(string name)
    {
        Assert.Null(FakeSysfs.Pmus().Find(name));
    }

    [Fact]
    public void Missing_root_has_no_pmus()
    {
        var catalog = new PmuCatalog("/nonexistent/devices");
        Assert.Empty(catalog.Names);
        Assert.Null(catalog.Find("cpu"));
    }

    [Fact]
    public void Reads_intel_pt_format_terms()
    {
        var format = FakeSysfs.Pmus().Find("intel_pt")!.Format;

        Assert.Equal(
            ["branch", "cyc", "cyc_thresh", "event", "fup_on_ptw", "mtc", "mtc_period", "noretcomp", "notnt", "psb_period", "pt", "ptw", "pwr_evt", "tsc"],
            format.Keys);
        Assert.Equal("config:14-17", format["mtc_period"].ToString());
        Assert.Equal(4, format["psb_period"].Width);
        Assert.Equal(55, format["notnt"].Ranges.Single().Low);
    }

    [Fact]
    public void Reads_caps_trimmed_and_other_attributes()
    {
        var pt = FakeSysfs.Pmus().Find("intel_pt")!;

        Assert.Equal("249", pt.Caps["mtc_periods"]);
        Assert.Equal("3fff", pt.Caps["cycle_thresholds"]);
        Assert.Equal("2", pt.Caps["num_address_ranges"]);
        Assert.Equal(18, pt.Caps.Count);
        Assert.Equal("28", pt.ReadAttribute("max_nonturbo_ratio"));
        Assert.Null(pt.ReadAttribute("no_such_file"));
    }

    [Fact]
    public void Reads_event_aliases_and_skips_scale_and_unit_files()
    {
        var events = FakeSysfs.Pmus().Find("cpu")!.Events;

        Assert.Equal("event=0x3c,in_tx=1", events["cycles-t"]);
        Assert.Contains("topdown-total-slots", events.Keys);
        Assert.DoesNotContain(events.Keys, k => k.Contains('.'));
    }

    [Fact]
    public void Encode_applies_format_terms_flags_and_whole_words()
    {
        var cpu = FakeSysfs.Pmus().Find("cpu")!;
        var attr = default(PerfEventAttr);

        cpu.Encode([("event", 0x3c), ("umask", 0x01), ("edge", null), ("cmask", 2), ("ldlat", 3), ("config2", 0x77)], ref attr);

        Assert.Equal(0x3cUL | 0x01UL << 8 | 1UL << 18 | 2UL << 24, attr.Config);
        Assert.Equal(3UL, attr.Config1);
        Assert.Equal(0x77UL, attr.Config2);
        Assert.Equal(0u, attr.Type);
    }

    [Fact]
    public void Encode_expands_an_alias_and_later_terms_override_it()
    {
        var cpu = FakeSysfs.Pmus().Find("cpu")!;
        var attr = default(PerfEventAttr);

        cpu.Encode([("cycles-ct", null), ("in_tx_cp", 0)], ref attr);

        Assert.Equal(0x3cUL | 1UL << 32, attr.Config);
    }

    [Fact]
    public void Encode_unknown_term_lists_the_pmus_terms_and_close_matches()
    {
        var cpu = FakeSysfs.Pmus().Find("cpu")!;
        var attr = default(PerfEventAttr);

        var e = Assert.Throws<EventParseException>(() => cpu.Encode([("umsk", 1)], ref attr));

        Assert.Contains("no term 'umsk'", e.Message);
        Assert.Contains("did you mean umask", e.Message);
        Assert.Contains("terms: any, cmask, edge, event, in_tx, in_tx_cp, inv, ldlat, pc, umask", e.Message);
        Assert.Contains("aliases: cycles-ct, cycles-t", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Encode_value_too_wide_names_term_and_bit_range()
    {
        var pt = FakeSysfs.Pmus().Find("intel_pt")!;
        var attr = default(PerfEventAttr);

        var e = Assert.Throws<EventParseException>(() => pt.Encode([("mtc_period", 16)], ref attr));

        Assert.Contains("'mtc_period'", e.Message);
        Assert.Contains("config:14-17", e.Message);
    }

    [Fact]
    public void Encode_alias_with_a_value_is_an_error()
    {
        var attr = default(PerfEventAttr);
        var e = Assert.Throws<EventParseException>(() => FakeSysfs.Pmus().Find("cpu")!.Encode([("cycles-t", 1)], ref attr));
        Assert.Contains("takes no value", e.Message);
    }

    [Fact]
    public void Encode_spreads_over_noncontiguous_format_read_from_disk()
    {
        string root = Directory.CreateTempSubdirectory("ptrace-pmu-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "amdcpu", "format"));
            File.WriteAllText(Path.Combine(root, "amdcpu", "type"), "4\n");
            File.WriteAllText(Path.Combine(root, "amdcpu", "format", "event"), "config:0-7,32-35\n");
            File.WriteAllText(Path.Combine(root, "amdcpu", "format", "weird"), "config9:0\n");
            var pmu = new PmuCatalog(root).Find("amdcpu")!;
            var attr = default(PerfEventAttr);

            pmu.Encode([("event", 0x1c2)], ref attr);

            Assert.Equal(0x1_0000_00c2UL, attr.Config);
            // A format line this code cannot read drops that term only.
            Assert.Equal(["event"], pmu.Format.Keys);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    public static TheoryData<string> RealPmus => ["software", "tracepoint", "breakpoint", "uprobe", "msr"];

    [Theory]
    [MemberData(nameof(RealPmus))]
    public void Discovers_this_machines_pmus_with_their_type_numbers(string name)
    {
        string typeFile = Path.Combine(PmuCatalog.DefaultRoot, name, "type");
        Assert.True(File.Exists(typeFile), $"{typeFile} should exist on this machine");
        uint expected = uint.Parse(File.ReadAllText(typeFile).Trim());

        var catalog = new PmuCatalog();

        Assert.Contains(name, catalog.Names);
        Assert.Equal(expected, catalog.Find(name)!.Type);
    }

    [Fact]
    public void Built_in_pmus_of_this_machine_have_the_uapi_type_numbers()
    {
        var catalog = new PmuCatalog();
        Assert.Equal((uint)PerfType.Software, catalog.Find("software")!.Type);
        Assert.Equal((uint)PerfType.Tracepoint, catalog.Find("tracepoint")!.Type);
        Assert.Equal((uint)PerfType.Breakpoint, catalog.Find("breakpoint")!.Type);
    }

    [Fact]
    public void Lists_exactly_the_directories_of_the_real_sysfs()
    {
        var expected = Directory.EnumerateFileSystemEntries(PmuCatalog.DefaultRoot).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(expected, new PmuCatalog().Names);
    }

    [Fact]
    public void Reads_real_uprobe_and_msr_formats()
    {
        var catalog = new PmuCatalog();
        var uprobe = catalog.Find("uprobe")!;
        Assert.Equal("config:0", uprobe.Format["retprobe"].ToString());
        Assert.Equal(32, uprobe.Format["ref_ctr_offset"].Width);
        Assert.Equal(64, catalog.Find("msr")!.Format["event"].Width);
        Assert.Equal("event=0x00", catalog.Find("msr")!.Events["tsc"]);
    }
}
