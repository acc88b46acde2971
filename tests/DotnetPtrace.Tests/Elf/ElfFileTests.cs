using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Elf;

/// <summary>
/// The ELF layout reader sees what binutils' readelf sees (section headers, program headers, .dynsym entries), and
/// damaged files end in an <see cref="ElfFormatException"/> or a null, never another exception.
/// </summary>
public sealed partial class ElfFileTests
{
    public static TheoryData<string> Files => [PltSamples.Path("pie"), PltSamples.Path("nopie-ibt-now"), "/usr/lib/x86_64-linux-gnu/libc.so.6"];

    [Theory]
    [MemberData(nameof(Files))]
    public void Sections_and_segments_equal_readelfs(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(ElfFile.TryOpen(bytes, out ElfFile elf));

        var sections = SectionLine().Matches(Readelf("-SW", path)).ToList();
        Assert.Equal(sections.Count, elf.SectionCount);
        foreach (Match m in sections)
        {
            ElfSection s = elf.Section(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            string name = m.Groups[2].Value;
            Assert.Equal(name, ElfFile.Utf8(elf.SectionName(s)));
            Assert.Equal((Hex(m.Groups[3]), Hex(m.Groups[4]), Hex(m.Groups[5]), Hex(m.Groups[6])), (s.Address, s.Offset, s.Size, s.EntrySize));
            Assert.Equal((Dec(m.Groups[7]), Dec(m.Groups[8]), Dec(m.Groups[9])), ((ulong)s.Link, (ulong)s.Info, s.Alignment));
            if (name.Length == 0) continue;
            Assert.True(elf.TryFindSection(System.Text.Encoding.UTF8.GetBytes(name), out ElfSection byName, out int index));
            Assert.Equal((name, byName), (ElfFile.Utf8(elf.SectionName(elf.Section(index))), elf.Section(index)));
        }

        var segments = SegmentLine().Matches(Readelf("-lW", path)).ToList();
        Assert.Equal(segments.Count, elf.SegmentCount);
        for (int i = 0; i < segments.Count; i++)
        {
            Match m = segments[i];
            ElfSegment p = elf.Segment(i);
            Assert.Equal((Hex(m.Groups[2]), Hex(m.Groups[3]), Hex(m.Groups[4]), Hex(m.Groups[5])), (p.Offset, p.VirtualAddress, p.FileSize, p.MemorySize));
            if (m.Groups[1].Value == "LOAD") Assert.Equal(ElfSegment.Load, p.Type);
            if (m.Groups[1].Value == "NOTE") Assert.Equal(ElfSegment.Note, p.Type);
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Dynamic_symbols_equal_readelfs(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(ElfFile.TryOpen(bytes, out ElfFile elf));
        Assert.True(elf.TryFindSection(".dynsym"u8, out ElfSection dynsym, out _));
        ReadOnlySpan<byte> names = elf.LinkedStrings(dynsym);
        var lines = SymbolLine().Matches(Readelf("--dyn-syms", "-W", path)).ToList();
        Assert.Equal(lines.Count, elf.SymbolCount(dynsym));
        foreach (Match m in lines)
        {
            ElfSymbol sym = elf.Symbol(dynsym, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            Assert.Equal((Hex(m.Groups[2]), Dec(m.Groups[3])), (sym.Value, sym.Size));
            // readelf adds "@VERSION" from .gnu.version; the string table holds the bare name.
            string name = m.Groups[4].Value.Split('@')[0];
            Assert.Equal(name, ElfFile.Utf8(ElfFile.CString(names, sym.NameOffset)));
        }
    }

    [Fact]
    public void Damaged_files_give_a_format_error_or_null_never_another_exception()
    {
        byte[] original = File.ReadAllBytes(PltSamples.Path("pie"));
        var random = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            byte[] damaged = round % 3 == 0
                ? original.AsSpan(0, random.Next(original.Length)).ToArray()
                : (byte[])original.Clone();
            if (round % 3 != 0)
                for (int flips = 0; flips < 8; flips++) damaged[random.Next(Math.Min(damaged.Length, 256 + round * 40))] ^= (byte)(1 << random.Next(8));
            _ = ElfSymbols.TryParse(damaged);   // must not throw
            _ = ElfBuildId.TryRead(damaged);
            if (!ElfFile.TryOpen(damaged, out ElfFile elf)) continue;
            try
            {
                _ = ElfPltSymbols.Read(elf);
                for (int i = 0; i < elf.SectionCount; i++) _ = elf.SectionName(elf.Section(i));
            }
            catch (ElfFormatException e)
            {
                Assert.Contains("file offset 0x", e.Message);
            }
        }
    }

    private static string Readelf(params string[] args)
    {
        var r = ProcessRunner.Run("readelf", args, TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    private static ulong Hex(Group g) => ulong.Parse(g.Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    private static ulong Dec(Group g) => ulong.Parse(g.Value, CultureInfo.InvariantCulture);

    /// <summary>readelf -SW: "[Nr] Name Type Address Off Size ES Flg Lk Inf Al" (Flg may be empty).</summary>
    [GeneratedRegex(@"^\s*\[\s*(\d+)\] (\S*)\s+[A-Z_][A-Za-z_0-9+]*\s+([0-9a-f]{16}) ([0-9a-f]{6,}) ([0-9a-f]{6,}) ([0-9a-f]{2,})\s+[A-Za-z]*\s+(\d+)\s+(\d+)\s+(\d+)$", RegexOptions.Multiline)]
    private static partial Regex SectionLine();

    /// <summary>readelf -lW: "Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align".</summary>
    [GeneratedRegex(@"^\s+([A-Z_]+|GNU_\w+|LOOS\+\w+)\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+) 0x([0-9a-f]+) ", RegexOptions.Multiline)]
    private static partial Regex SegmentLine();

    /// <summary>readelf --dyn-syms -W: "Num: Value Size Type Bind Vis Ndx Name".</summary>
    [GeneratedRegex(@"^\s+(\d+): ([0-9a-f]+)\s+(\d+) \w+\s+\w+\s+\w+\s+\w+ ?(\S*)", RegexOptions.Multiline)]
    private static partial Regex SymbolLine();
}
