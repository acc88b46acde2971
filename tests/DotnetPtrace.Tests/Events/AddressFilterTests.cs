using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Events.AddressFilters;
using DotnetPtrace.Tests.IntelPt;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Tests.Events;

/// <summary>A small program built with gcc (PIE and not), and what binutils say about its functions: the oracle.</summary>
public sealed class FilterProgram : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("dotnet-ptrace-filter-").FullName;
    public string? Missing { get; }

    public FilterProgram()
    {
        File.WriteAllText(Path.Combine(Dir, "a.c"), """
            static int helper(int x) { return x * 3 + 1; }
            static int dup(int x) { return x + 11; }
            int work(int x) { return helper(x) + dup(x) + 2; }
            """);
        File.WriteAllText(Path.Combine(Dir, "b.c"), """
            static int helper(int x) { return x * 5 - 1; }
            int work(int x);
            int dup(int x) { return x - 13; }
            int other(int x) { return helper(x) ^ dup(x); }
            int main(int argc, char **argv) { (void)argv; return work(argc) + other(argc); }
            """);
        try
        {
            Build("pie", []);
            Build("nopie", ["-no-pie", "-fno-pie"]);
        }
        catch (InvalidOperationException e) { Missing = $"gcc/binutils not usable: {e.Message}"; }
    }

    private void Build(string name, string[] extra)
    {
        var r = PtTestSupport.Run("gcc", ["-O1", "-fno-inline", .. extra, "-o", Path.Combine(Dir, name), Path.Combine(Dir, "a.c"), Path.Combine(Dir, "b.c")], TimeSpan.FromSeconds(60));
        if (r.ExitCode != 0) throw new InvalidOperationException(r.Stderr);
    }

    public string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>objdump -d -F: every function's file offset, in address order (duplicates included).</summary>
    public List<(string Name, ulong FileOffset)> ObjdumpOffsets(string name)
    {
        var r = PtTestSupport.Run("objdump", ["-d", "-F", PathOf(name)], TimeSpan.FromSeconds(60));
        Assert.Equal(0, r.ExitCode);
        return Regex.Matches(r.Stdout, @"^[0-9a-f]+ <([^>]+)> \(File Offset: 0x([0-9a-f]+)\):", RegexOptions.Multiline)
            .Select(m => (m.Groups[1].Value, ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber))).ToList();
    }

    /// <summary>nm -S: the size of each named function (first of a name).</summary>
    public ulong NmSize(string name, string symbol, int nth = 1)
    {
        var r = PtTestSupport.Run("nm", ["-S", "-n", PathOf(name)], TimeSpan.FromSeconds(60));
        Assert.Equal(0, r.ExitCode);
        var sizes = r.Stdout.Split('\n').Select(l => l.Split(' ')).Where(f => f.Length == 4 && f[3] == symbol)
            .Select(f => ulong.Parse(f[1], NumberStyles.HexNumber)).ToList();
        return sizes[nth - 1];
    }

    public ulong Offset(string name, string symbol, int nth = 1) => ObjdumpOffsets(name).Where(f => f.Name == symbol).ElementAt(nth - 1).FileOffset;

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

/// <summary>
/// --filter: perf's syntax parsed, symbols resolved to file offsets (binutils' objdump -F and nm -S are the oracle),
/// the kernel's filter string as perf writes it, the range count checked against the fake intel_pt caps, clear errors,
/// and the SET_FILTER ioctl taken to the real kernel.
/// </summary>
public class AddressFilterTests(FilterProgram program, ITestOutputHelper output) : IClassFixture<FilterProgram>
{
    private bool Skip()
    {
        if (program.Missing is null) return false;
        output.WriteLine($"skipped: {program.Missing}");
        return true;
    }

    [Fact]
    public void Parses_perf_syntax()
    {
        var f = AddressFilterParser.Parse("filter main @ /bin/ls, start 0x1000/0x20 @ /lib/x.so stop 4096 @/a tracestop foo #2 / bar #g @ /b ,filter 0x10/010");
        Assert.Equal(5, f.Count);
        Assert.Equal(new AddressFilterSpec("filter main @ /bin/ls", AddressFilterAction.Filter, true, new FilterOperand(0, "main"), null, "/bin/ls"), f[0]);
        Assert.Equal((AddressFilterAction.Start, true, 0x1000UL, 0x20UL, "/lib/x.so"), (f[1].Action, f[1].Range, f[1].From.Number, f[1].To!.Value.Number, f[1].File));
        Assert.Equal((AddressFilterAction.Stop, false, 4096UL, "/a"), (f[2].Action, f[2].Range, f[2].From.Number, f[2].File));
        Assert.Equal((AddressFilterAction.Stop, true, "foo", 2, "bar", 0), (f[3].Action, f[3].Range, f[3].From.Symbol, f[3].From.SymbolIndex, f[3].To!.Value.Symbol, f[3].To!.Value.SymbolIndex));
        Assert.Equal((0x10UL, 8UL, (string?)null), (f[4].From.Number, f[4].To!.Value.Number, f[4].File));   // 010 is octal, as strtoull base 0
    }

    [Theory]
    [InlineData("trace main @ /bin/ls", "unknown action 'trace'")]
    [InlineData("filter", "expected a start address or symbol")]
    [InlineData("filter main /", "expected a size or an end symbol")]
    [InlineData("filter main @", "a file name must follow '@'")]
    [InlineData("filter 0x12q/4", "'0x12q' is not a number")]
    [InlineData("filter main #x @ /bin/ls", "must be #g or a symbol number")]
    [InlineData("  ", "empty filter")]
    public void Bad_syntax_says_what_is_wrong_and_the_format(string text, string why)
    {
        var e = Assert.Throws<AddressFilterException>(() => AddressFilterParser.Parse(text));
        Assert.Contains(why, e.Message);
        Assert.Contains("filter|start|stop|tracestop", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void The_kernel_string_is_perfs()
    {
        // perf's addr_filter__to_str: "%s 0x%PRIx64/0x%PRIx64%s%s" for ranges, "%s 0x%PRIx64%s%s" otherwise,
        // filters joined by ','; the kernel parses ACTION START[/SIZE][@FILE] (perf_event_parse_addr_filter).
        var filters = new[]
        {
            new KernelAddressFilter(AddressFilterAction.Filter, true, 0x112e, 0x9, "/usr/bin/prog"),
            new KernelAddressFilter(AddressFilterAction.Start, false, 0x4000, 0, "/usr/lib/libx.so"),
            new KernelAddressFilter(AddressFilterAction.Stop, true, 0xffffffff81000000, 0x1000, null),
        };
        Assert.Equal("filter 0x112e/0x9@/usr/bin/prog,start 0x4000@/usr/lib/libx.so,stop 0xffffffff81000000/0x1000", KernelAddressFilter.Join(filters));
    }

    [Theory]
    [InlineData("pie")]
    [InlineData("nopie")]
    public void Symbols_become_file_offsets_with_their_sizes(string binary)
    {
        if (Skip()) return;
        string path = program.PathOf(binary);
        ulong work = program.Offset(binary, "work"), main = program.Offset(binary, "main");
        ulong workSize = program.NmSize(binary, "work"), mainSize = program.NmSize(binary, "main");
        string Resolve(string text) => KernelAddressFilter.Join(AddressFilterResolver.Resolve(AddressFilterParser.Parse(text)));

        Assert.Equal($"filter 0x{work:x}/0x{workSize:x}@{path}", Resolve($"filter work @ {path}"));
        Assert.Equal($"start 0x{main:x}@{path}", Resolve($"start main @ {path}"));
        Assert.Equal($"stop 0x{work:x}/0x{workSize:x}@{path}", Resolve($"tracestop work @ {path}"));   // tracestop is a stop range
        Assert.Equal($"filter 0x{work:x}/0x{main + mainSize - work:x}@{path}", Resolve($"filter work / main @ {path}"));
        Assert.Equal($"filter 0x{work:x}/0x40@{path}", Resolve($"filter work / 0x40 @ {path}"));
        Assert.Equal($"filter 0x0/0x{new FileInfo(path).Length:x}@{path}", Resolve($"filter * @ {path}"));
        Assert.Equal($"start 0x1234/0x10@{path}", Resolve($"start 0x1234/16 @ {path}"));
        // Two local functions called helper: #n picks by address order, as objdump lists them.
        Assert.Equal($"filter 0x{program.Offset(binary, "helper", 2):x}/0x{program.NmSize(binary, "helper", 2):x}@{path}", Resolve($"filter helper #2 @ {path}"));
        // dup is local in a.c and global in b.c: #g is the global one.
        var dups = program.ObjdumpOffsets(binary).Where(f => f.Name == "dup").ToList();
        Assert.Equal(2, dups.Count);
        ulong globalDup = program.Offset(binary, "dup", 2);   // b.c is linked second
        Assert.Equal($"filter 0x{globalDup:x}/0x{program.NmSize(binary, "dup", 2):x}@{path}", Resolve($"filter dup #g @ {path}"));
    }

    [Fact]
    public void The_file_is_named_by_its_real_path()
    {
        if (Skip()) return;
        string link = Path.Combine(program.Dir, "link-to-pie");
        if (!File.Exists(link)) File.CreateSymbolicLink(link, program.PathOf("pie"));
        string filter = KernelAddressFilter.Join(AddressFilterResolver.Resolve(AddressFilterParser.Parse($"filter main @ {link}")));
        Assert.EndsWith("@" + program.PathOf("pie"), filter);
    }

    [Fact]
    public void An_unknown_symbol_names_the_file()
    {
        if (Skip()) return;
        string path = program.PathOf("pie");
        var e = Assert.Throws<AddressFilterException>(() => AddressFilterResolver.Resolve(AddressFilterParser.Parse($"filter no_such_function @ {path}")));
        Assert.Equal($"--filter 'filter no_such_function @ {path}': no function 'no_such_function' in {path}", e.Message);
    }

    [Theory]
    [InlineData("filter helper @ FILE", "2 functions are called 'helper'")]
    [InlineData("filter helper #3 @ FILE", "has only 2 function(s) called 'helper'")]
    [InlineData("filter helper #g @ FILE", "no global function 'helper'")]
    [InlineData("filter main / work @ FILE", "comes before the start")]
    [InlineData("filter main", "needs '@ FILE'")]
    [InlineData("filter 0x1000 @ FILE", "a filter range needs a size")]
    [InlineData("filter main @ /no/such/file", "/no/such/file: No such file or directory")]
    [InlineData("filter main @ /etc/hostname", "/etc/hostname is not a little-endian ELF file")]
    public void Unusable_filters_say_why(string text, string why)
    {
        if (Skip()) return;
        var e = Assert.Throws<AddressFilterException>(() => AddressFilterResolver.Resolve(AddressFilterParser.Parse(text.Replace("FILE", program.PathOf("pie")))));
        output.WriteLine(e.Message);
        Assert.Contains(why, e.Message);
        Assert.StartsWith("--filter '", e.Message);
    }

    [Fact]
    public void The_count_is_checked_against_the_pmus_address_ranges()
    {
        if (Skip()) return;
        var pt = FakeSysfs.Pmus().Find("intel_pt")!;   // caps/num_address_ranges = 2, no nr_addr_filters file
        Assert.Equal((2, "intel_pt/caps/num_address_ranges"), AddressFilterLimit.MaxRanges(pt));
        string path = program.PathOf("pie");
        string two = AddressFilterSet.Build(pt, [$"filter main @ {path}", $"filter work @ {path}"], systemWide: false);
        Assert.Equal(2, two.Split(',').Length);
        var e = Assert.Throws<AddressFilterException>(() => AddressFilterSet.Build(pt, [$"filter main @ {path} filter work @ {path}", $"stop other @ {path}"], systemWide: false));
        Assert.Equal("--filter: 3 address filters, but this CPU's intel_pt has 2 address range(s) (intel_pt/caps/num_address_ranges)", e.Message);
        var wide = Assert.Throws<AddressFilterException>(() => AddressFilterSet.Build(pt, [$"filter main @ {path}"], systemWide: true));
        Assert.Contains("per task only", wide.Message);
    }

    [Fact]
    public void The_kernel_takes_address_filters_only_on_pmus_that_have_them()
    {
        if (Skip()) return;
        // SET_FILTER reaches the kernel: a software event has no address filters (EINVAL from perf_event_set_filter),
        // a tracepoint parses the string as an ftrace filter and refuses it too; a real ftrace filter is taken.
        string filter = AddressFilterSet.Build(FakeSysfs.Pmus().Find("intel_pt")!, [$"filter main @ {program.PathOf("pie")}"], false);
        var sw = new PerfEventAttr { Type = (uint)PerfType.Software, Config = (ulong)SoftwareEvent.CpuClock, SamplePeriod = 1_000_000, Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel };
        using (var fd = PerfEvent.Open(ref sw, 0, -1, null, "cpu-clock:u"))
            Assert.Equal(EINVAL, Assert.Throws<PerfException>(() => PerfEvent.SetFilter(fd, filter)).Errno);

        var tracefs = new DotnetPtrace.Native.Events.Tracefs();
        if (!tracefs.TryGetEventId("syscalls", "sys_enter_getppid", out ulong id)) { output.WriteLine($"tracepoint part skipped: {tracefs.UnavailableReason}"); return; }
        var tp = new PerfEventAttr { Type = (uint)PerfType.Tracepoint, Config = id, SamplePeriod = 1, Flags = AttrFlags.Disabled };
        using var tfd = PerfEvent.Open(ref tp, 0, -1, null, "syscalls:sys_enter_getppid");
        Assert.Equal(EINVAL, Assert.Throws<PerfException>(() => PerfEvent.SetFilter(tfd, filter)).Errno);
        PerfEvent.SetFilter(tfd, "common_pid != 0");
    }
}
