using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Elf;

/// <summary>
/// The PLT stubs are named as binutils names them: every "&lt;name@plt&gt;" label objdump -d prints (its synthetic
/// symbols, made from the same relocations) must be a symbol of ours with the same name, starting at the label and
/// covering exactly the bytes objdump disassembles under it; and the size-0 _init before .plt must stop at .plt.
/// </summary>
public sealed partial class ElfPltSymbolsTests(ITestOutputHelper log)
{
    public static TheoryData<string> Variants => [.. PltSamples.Variants.Select(v => v.Name)];

    [Theory]
    [MemberData(nameof(Variants))]
    public void Every_plt_label_objdump_prints_is_our_symbol_with_its_range(string variant)
    {
        string path = PltSamples.Path(variant);
        var dump = ProcessRunner.Run("objdump", ["-d", "-w", path], TimeSpan.FromSeconds(30));
        Assert.True(dump.ExitCode == 0, dump.ToString());
        var labels = ParseLabels(dump.Stdout);
        ElfSymbols symbols = ElfSymbols.TryLoad(path) ?? throw new InvalidOperationException($"cannot read {path}");

        var stubs = labels.Where(l => l.Name.EndsWith("@plt", StringComparison.Ordinal)).ToList();
        // .plt.got stubs (functions whose address is also taken, e.g. __cxa_finalize) are named from .rela.dyn by
        // objdump and perf >= 6.3; perf 6.1, our reference, has no names there, and neither have we.
        var checkedStubs = stubs.Where(s => s.Section != ".plt.got").ToList();
        foreach (var s in stubs.Except(checkedStubs)) log.WriteLine($"not checked ({s.Section}): {s.Name} at {s.Start:x}");
        Assert.True(checkedStubs.Count >= 3, $"objdump shows {checkedStubs.Count} stubs:\n{dump.Stdout}");
        foreach (var stub in checkedStubs)
        {
            log.WriteLine($"{stub.Section} {stub.Name} [{stub.Start:x}, {stub.End:x})");
            Assert.True(symbols.TryFind(stub.Start, out string name, out ulong offset, out ulong size), $"nothing at {stub.Start:x} ({stub.Name})");
            Assert.Equal((stub.Name, 0UL, stub.End - stub.Start), (name, offset, size));
            Assert.True(symbols.TryFind(stub.End - 1, out string last, out _));
            Assert.Equal(stub.Name, last);
        }

        // _init has no size (crti.o's label): perf stretches it to the next symbol, never over the stubs after it.
        var init = labels.Single(l => l.Name == "_init");
        ulong pltStart = labels.First(l => l.Section == ".plt").Start;
        Assert.True(symbols.TryFind(init.Start, out string initName, out _, out ulong initSize));
        Assert.Equal("_init", initName);
        Assert.Equal(pltStart - init.Start, initSize);
        Assert.False(symbols.TryFind(pltStart, out string atPlt, out _) && atPlt == "_init", $"_init stretched over .plt at {pltStart:x}");
    }

    [Fact]
    public void Lazy_and_non_lazy_plt_on_x86_64_have_16_byte_stubs_after_a_16_byte_header()
    {
        // The layout the synthesis rests on, read with binutils: .plt's sh_entsize is 16 and the first stub is 16
        // bytes in (PLT0, the lazy-binding trampoline, comes first), in every variant without .plt.sec.
        foreach (var (variant, _) in PltSamples.Variants.Where(v => !v.Name.Contains("ibt")))
        {
            string path = PltSamples.Path(variant);
            var sections = ProcessRunner.Run("readelf", ["-SW", path], TimeSpan.FromSeconds(30));
            var plt = PltSection().Match(sections.Stdout);
            Assert.True(plt.Success, sections.Stdout);
            ulong address = ulong.Parse(plt.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Assert.Equal("10", plt.Groups[2].Value);
            var dump = ProcessRunner.Run("objdump", ["-d", "-w", path], TimeSpan.FromSeconds(30));
            var firstStub = ParseLabels(dump.Stdout).First(l => l.Section == ".plt" && l.Name.EndsWith("@plt", StringComparison.Ordinal));
            Assert.Equal(address + 16, firstStub.Start);
        }
    }

    private sealed record Label(string Section, string Name, ulong Start, ulong End);

    /// <summary>objdump -d -w: "Disassembly of section S:", "ADDR &lt;name&gt;:", "  ADDR:\tBYTES \tinsn"; a label ends after its last bytes.</summary>
    private static List<Label> ParseLabels(string objdump)
    {
        var labels = new List<Label>();
        string section = "";
        string? name = null;
        ulong start = 0, end = 0;
        void Flush()
        {
            if (name is not null) labels.Add(new Label(section, name, start, end));
            name = null;
        }
        foreach (string line in objdump.Split('\n'))
        {
            if (SectionLine().Match(line) is { Success: true } s) { Flush(); section = s.Groups[1].Value; continue; }
            if (LabelLine().Match(line) is { Success: true } l)
            {
                Flush();
                name = l.Groups[2].Value;
                start = end = ulong.Parse(l.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                continue;
            }
            if (name is not null && InsnLine().Match(line) is { Success: true } i)
            {
                ulong at = ulong.Parse(i.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                int bytes = i.Groups[2].Value.Trim().Split(' ').Length;
                end = Math.Max(end, at + (ulong)bytes);
            }
        }
        Flush();
        return labels;
    }

    [GeneratedRegex(@"^Disassembly of section (\S+):")]
    private static partial Regex SectionLine();

    [GeneratedRegex(@"^([0-9a-f]+) <(.+)>:$")]
    private static partial Regex LabelLine();

    [GeneratedRegex(@"^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)")]
    private static partial Regex InsnLine();

    [GeneratedRegex(@"\] \.plt\s+PROGBITS\s+([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ ([0-9a-f]+)")]
    private static partial Regex PltSection();
}
