using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

public class EventParserTests
{
    private readonly EventParser _parser = FakeSysfs.Parser();

    // config numbers from include/uapi/linux/perf_event.h (perf_sw_ids, perf_hw_id), written out rather than
    // taken from our enums so a wrong enum value fails here too.
    [Theory]
    [InlineData("cpu-clock", 0, "cpu-clock")]
    [InlineData("task-clock", 1, "task-clock")]
    [InlineData("page-faults", 2, "page-faults")]
    [InlineData("faults", 2, "page-faults")]
    [InlineData("context-switches", 3, "context-switches")]
    [InlineData("cs", 3, "context-switches")]
    [InlineData("cpu-migrations", 4, "cpu-migrations")]
    [InlineData("migrations", 4, "cpu-migrations")]
    [InlineData("minor-faults", 5, "minor-faults")]
    [InlineData("major-faults", 6, "major-faults")]
    [InlineData("alignment-faults", 7, "alignment-faults")]
    [InlineData("emulation-faults", 8, "emulation-faults")]
    [InlineData("dummy", 9, "dummy")]
    [InlineData("bpf-output", 10, "bpf-output")]
    [InlineData("cgroup-switches", 11, "cgroup-switches")]
    public void Software_names_map_to_type_1_and_their_config(string text, ulong config, string canonical)
    {
        var spec = _parser.Parse(text);

        Assert.Equal(1u, spec.Attr.Type);
        Assert.Equal(config, spec.Attr.Config);
        Assert.Equal(canonical, spec.Name);
        Assert.Equal(AttrFlags.None, spec.Attr.Flags);
        Assert.False(spec.IsTracepoint);
    }

    [Theory]
    [InlineData("cycles", 0, "cycles")]
    [InlineData("cpu-cycles", 0, "cycles")]
    [InlineData("instructions", 1, "instructions")]
    [InlineData("cache-references", 2, "cache-references")]
    [InlineData("cache-misses", 3, "cache-misses")]
    [InlineData("branches", 4, "branches")]
    [InlineData("branch-instructions", 4, "branches")]
    [InlineData("branch-misses", 5, "branch-misses")]
    [InlineData("bus-cycles", 6, "bus-cycles")]
    [InlineData("stalled-cycles-frontend", 7, "stalled-cycles-frontend")]
    [InlineData("stalled-cycles-backend", 8, "stalled-cycles-backend")]
    [InlineData("ref-cycles", 9, "ref-cycles")]
    public void Hardware_names_map_to_type_0_and_their_config(string text, ulong config, string canonical)
    {
        var spec = _parser.Parse(text);

        Assert.Equal(0u, spec.Attr.Type);
        Assert.Equal(config, spec.Attr.Config);
        Assert.Equal(canonical, spec.Name);
    }

    [Fact]
    public void Every_builtin_spelling_parses_to_its_table_entry()
    {
        foreach (string spelling in BuiltinEvents.Spellings)
        {
            Assert.True(BuiltinEvents.TryFind(spelling, out var builtin));
            var spec = _parser.Parse(spelling);
            Assert.Equal((uint)builtin.Type, spec.Attr.Type);
            Assert.Equal(builtin.Config, spec.Attr.Config);
        }
        Assert.Equal(22, BuiltinEvents.All.Count);
    }

    [Theory]
    [InlineData("r1a8", 0x1a8UL, "r1a8")]
    [InlineData("rFF", 0xffUL, "rff")]
    [InlineData("r0", 0UL, "r0")]
    [InlineData("rffffffffffffffff", ulong.MaxValue, "rffffffffffffffff")]
    [InlineData("r1a8:u", 0x1a8UL, "r1a8:u")]
    public void Raw_events_are_hex_config_of_type_4(string text, ulong config, string name)
    {
        var spec = _parser.Parse(text);

        Assert.Equal(4u, spec.Attr.Type);
        Assert.Equal(config, spec.Attr.Config);
        Assert.Equal(name, spec.Name);
    }

    [Theory]
    //                 text            exclude user/kernel/hv   precise  name
    [InlineData("cpu-clock:u", false, true, true, 0, "cpu-clock:u")]
    [InlineData("cpu-clock:k", true, false, true, 0, "cpu-clock:k")]
    [InlineData("cpu-clock:h", true, true, false, 0, "cpu-clock:h")]
    [InlineData("cycles:uk", false, false, true, 0, "cycles:ku")]
    [InlineData("cycles:ku", false, false, true, 0, "cycles:ku")]
    [InlineData("cycles:ukh", false, false, false, 0, "cycles")]
    [InlineData("cycles:p", false, false, false, 1, "cycles:p")]
    [InlineData("cycles:ukpp", false, false, true, 2, "cycles:kupp")]
    [InlineData("cycles:pup", false, true, true, 2, "cycles:upp")]
    [InlineData("cycles:ppp", false, false, false, 3, "cycles:ppp")]
    [InlineData("cs:k", true, false, true, 0, "context-switches:k")]
    public void Modifiers_exclude_the_levels_not_named(string text, bool excludeUser, bool excludeKernel, bool excludeHv, int precise, string name)
    {
        var spec = _parser.Parse(text);

        Assert.Equal(excludeUser, spec.Attr.Has(AttrFlags.ExcludeUser));
        Assert.Equal(excludeKernel, spec.Attr.Has(AttrFlags.ExcludeKernel));
        Assert.Equal(excludeHv, spec.Attr.Has(AttrFlags.ExcludeHv));
        Assert.Equal(precise, spec.Attr.PreciseIp);
        Assert.Equal(name, spec.Name);
        // Nothing outside the exclude bits and precise_ip.
        const AttrFlags allowed = AttrFlags.ExcludeUser | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv | AttrFlags.PreciseIpLow | AttrFlags.PreciseIpHigh;
        Assert.Equal(AttrFlags.None, spec.Attr.Flags & ~allowed);
    }

    [Theory]
    [InlineData("cycles:pppp", "highest is 3")]
    [InlineData("cycles:uu", "'u' given twice")]
    [InlineData("cpu-clock:", "empty modifier")]
    [InlineData("cpu-clock:x", "unknown modifier 'x'")]
    [InlineData("cpu-clock:u:k", "too many ':'")]
    [InlineData("intel_pt//z", "unknown modifier 'z'")]
    public void Bad_modifiers_are_errors(string text, string expected)
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse(text));
        Assert.Contains(expected, e.Message);
        Assert.Contains($"'{text}'", e.Message);
    }

    [Fact]
    public void Tracepoint_id_comes_from_the_fake_tracefs()
    {
        var spec = _parser.Parse("sched:sched_switch");

        Assert.Equal(2u, spec.Attr.Type);
        Assert.Equal(312UL, spec.Attr.Config);
        Assert.True(spec.IsTracepoint);
        Assert.Equal("sched", spec.TracepointSystem);
        Assert.Equal("sched_switch", spec.TracepointName);
        Assert.Equal("sched:sched_switch", spec.Name);
    }

    [Fact]
    public void Tracepoint_takes_modifiers_after_a_second_colon()
    {
        var spec = _parser.Parse("syscalls:sys_enter_openat:u");

        Assert.Equal(633UL, spec.Attr.Config);
        Assert.True(spec.Attr.Has(AttrFlags.ExcludeKernel));
        Assert.Equal("syscalls:sys_enter_openat:u", spec.Name);
    }

    [Fact]
    public void Tracepoint_of_the_real_tracefs_has_the_kernels_id()
    {
        var tracefs = new Tracefs();
        Assert.True(tracefs.IsAvailable, tracefs.UnavailableReason);
        ulong expected = ulong.Parse(File.ReadAllText(Path.Combine(tracefs.Root!, "events/sched/sched_switch/id")).Trim());

        var spec = new EventParser(new PmuCatalog(), tracefs).Parse("sched:sched_switch");

        Assert.Equal(2u, spec.Attr.Type);
        Assert.Equal(expected, spec.Attr.Config);
    }

    [Fact]
    public void Unknown_tracepoint_in_a_known_system_suggests_its_neighbours()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("sched:sched_swich"));

        Assert.Equal("event 'sched:sched_swich': no tracepoint sched:sched_swich (did you mean sched:sched_switch?)", e.Message);
    }

    [Fact]
    public void Unknown_tracepoint_system_suggests_tracepoints()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("shed:sched_switch"));

        Assert.Contains("unknown event 'shed:sched_switch'", e.Message);
        Assert.Contains("sched:sched_switch", e.Message);
    }

    [Fact]
    public void Bare_tracepoint_name_suggests_the_tracepoint()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("sched_switch"));
        Assert.Contains("did you mean sched:sched_switch", e.Message);
    }

    [Fact]
    public void Typo_suggests_close_builtin_names()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("cpu-clokc"));

        Assert.StartsWith("unknown event 'cpu-clokc' (did you mean cpu-clock", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Typo_with_modifier_still_suggests()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("contex-switches:u"));
        Assert.Contains("did you mean context-switches", e.Message);
    }

    [Fact]
    public void Gibberish_has_no_suggestions()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("qqqqqqqqqq"));
        Assert.Equal("unknown event 'qqqqqqqqqq'", e.Message);
    }

    [Fact]
    public void Without_tracefs_a_tracepoint_error_says_why()
    {
        var parser = new EventParser(FakeSysfs.Pmus(), new Tracefs("/nonexistent/tracing"));

        var e = Assert.Throws<EventParseException>(() => parser.Parse("sched:sched_switch"));

        Assert.Contains("tracepoints unavailable: /nonexistent/tracing has no events/ directory", e.Message);
        // Software events still parse without tracefs.
        Assert.Equal(1u, parser.Parse("cpu-clock:u").Attr.Type);
    }

    [Fact]
    public void Pmu_event_encodes_terms_into_config_of_the_pmus_type()
    {
        var spec = _parser.Parse("cpu/event=0x3c,umask=0x01,edge,cmask=2/");

        Assert.Equal(4u, spec.Attr.Type);
        Assert.Equal(0x3cUL | 0x01UL << 8 | 1UL << 18 | 2UL << 24, spec.Attr.Config);
        Assert.Equal("cpu/event=0x3c,umask=0x01,edge,cmask=2/", spec.Name);
        Assert.Equal("cpu", spec.PmuName);
    }

    [Fact]
    public void Pmu_event_alias_expands_to_its_terms()
    {
        var alias = _parser.Parse("cpu/cycles-t/");
        var spelledOut = _parser.Parse("cpu/event=0x3c,in_tx=1/");

        Assert.Equal(0x3cUL | 1UL << 32, alias.Attr.Config);
        Assert.Equal(spelledOut.Attr, alias.Attr);
    }

    [Fact]
    public void Pmu_event_alias_with_config1_term()
    {
        var spec = _parser.Parse("cpu/mem-loads/pp");

        Assert.Equal(0xcdUL | 0x1UL << 8, spec.Attr.Config);
        Assert.Equal(3UL, spec.Attr.Config1);
        Assert.Equal(2, spec.Attr.PreciseIp);
    }

    [Fact]
    public void Empty_pmu_terms_give_a_zero_config_for_an_ordinary_pmu()
    {
        var spec = _parser.Parse("software//");
        Assert.Equal(1u, spec.Attr.Type);
        Assert.Equal(0UL, spec.Attr.Config);
        Assert.Equal("software//", spec.Name);
    }

    [Theory]
    [InlineData("intel_pt//u")]
    [InlineData("intel_pt//:u")]
    public void Pmu_modifiers_follow_the_closing_slash(string text)
    {
        var spec = _parser.Parse(text);

        Assert.Equal(8u, spec.Attr.Type);
        Assert.True(spec.Attr.Has(AttrFlags.ExcludeKernel));
        Assert.True(spec.Attr.Has(AttrFlags.ExcludeHv));
        Assert.False(spec.Attr.Has(AttrFlags.ExcludeUser));
        Assert.Equal("intel_pt//u", spec.Name);
    }

    [Fact]
    public void Unknown_pmu_lists_the_pmus_present()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("nosuchpmu/x/"));

        Assert.Equal("event 'nosuchpmu/x/': unknown PMU 'nosuchpmu' (PMUs here: cpu, intel_pt, software, tracepoint)", e.Message);
    }

    [Fact]
    public void Missing_intel_pt_says_so()
    {
        var parser = new EventParser(new PmuCatalog("/nonexistent/devices"), FakeSysfs.Tracefs());

        var e = Assert.Throws<EventParseException>(() => parser.Parse("intel_pt//u"));

        Assert.Equal($"event 'intel_pt//u': unknown PMU 'intel_pt' (PMUs here: none); no Intel PT here: {IntelPtAvailability.WhyMissing()}", e.Message);
    }

    [Fact]
    public void Misspelt_pmu_suggests_it()
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse("intel_tp//"));
        Assert.Contains("did you mean intel_pt?", e.Message);
    }

    [Theory]
    [InlineData("cpu/event=0x3c", "missing the closing '/'")]
    [InlineData("/event=1/", "no PMU name")]
    [InlineData("cpu/event=zz/", "value 'zz' of term 'event' is not a number")]
    [InlineData("cpu/event=1,,umask=1/", "empty term")]
    [InlineData("cpu/bogus=1/", "cpu has no term 'bogus'")]
    [InlineData("cpu/event=0x100/", "config:0-7")]
    [InlineData("cpu/config/", "needs a value")]
    public void Pmu_event_errors_name_the_event_and_the_problem(string text, string expected)
    {
        var e = Assert.Throws<EventParseException>(() => _parser.Parse(text));

        Assert.StartsWith($"event '{text}': ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Whole_word_config_terms_work_on_any_pmu()
    {
        var spec = _parser.Parse("cpu/config=0x1234,config1=5,config2=6,config3=7/");

        Assert.Equal(0x1234UL, spec.Attr.Config);
        Assert.Equal(5UL, spec.Attr.Config1);
        Assert.Equal(6UL, spec.Attr.Config2);
        Assert.Equal(7UL, spec.Attr.Config3);
    }

    [Fact]
    public void Empty_text_is_an_error()
    {
        Assert.Throws<EventParseException>(() => _parser.Parse("  "));
    }

    [Fact]
    public void Real_machine_pmu_events_parse_against_real_sysfs()
    {
        var catalog = new PmuCatalog();
        var parser = new EventParser(catalog, new Tracefs());

        var retprobe = parser.Parse("uprobe/retprobe/");
        Assert.Equal(catalog.Find("uprobe")!.Type, retprobe.Attr.Type);
        Assert.Equal(1UL, retprobe.Attr.Config);

        var tsc = parser.Parse("msr/tsc/");
        Assert.Equal(catalog.Find("msr")!.Type, tsc.Attr.Type);
        Assert.Equal(0UL, tsc.Attr.Config);
    }
}
