using System.Text;

namespace DotnetPtrace.Decoders.Elf;

/// <summary>A header or table of an ELF file points outside the file or is malformed; the offset says where.</summary>
public sealed class ElfFormatException(string message, ulong offset) : Exception($"{message} (at file offset 0x{offset:x})")
{
    public ulong Offset { get; } = offset;
}

/// <summary>
/// A whole little-endian ELF32/ELF64 file in memory: its segments, sections (by index or name), string tables,
/// symbol tables and relocations, every access checked against the file's bounds. A table entry or section data that
/// lies outside the file throws <see cref="ElfFormatException"/>; nothing reads past the span.
/// </summary>
public readonly ref struct ElfFile
{
    private readonly ReadOnlySpan<byte> _bytes;

    private ElfFile(ReadOnlySpan<byte> bytes, ElfHeader header)
    {
        _bytes = bytes;
        Header = header;
    }

    public ElfHeader Header { get; }
    public int Length => _bytes.Length;

    /// <summary>False when <paramref name="bytes"/> does not start with a little-endian ELF32/ELF64 header.</summary>
    public static bool TryOpen(ReadOnlySpan<byte> bytes, out ElfFile file)
    {
        file = default;
        if (!ElfHeader.TryParse(bytes, out ElfHeader header))
            return false;
        file = new ElfFile(bytes, header);
        return true;
    }

    /// <summary>The number of program headers (0 when the table is absent or its entries are too small to parse).</summary>
    public int SegmentCount => Header.ProgramHeaderOffset == 0 || Header.ProgramHeaderEntrySize < Header.MinProgramHeaderSize ? 0 : Header.ProgramHeaderCount;
    public int SectionCount => Header.SectionHeaderOffset == 0 || Header.SectionHeaderEntrySize < Header.MinSectionHeaderSize ? 0 : Header.SectionHeaderCount;

    public ElfSegment Segment(int index) =>
        Header.ReadSegment(Slice(Header.ProgramHeaderOffset + (ulong)index * (ulong)Header.ProgramHeaderEntrySize,
            (ulong)Header.ProgramHeaderEntrySize, "program header"));

    public ElfSection Section(int index) =>
        Header.ReadSection(Slice(Header.SectionHeaderOffset + (ulong)index * (ulong)Header.SectionHeaderEntrySize,
            (ulong)Header.SectionHeaderEntrySize, "section header"));

    /// <summary>The bytes a section holds in the file (none for SHT_NOBITS).</summary>
    public ReadOnlySpan<byte> SectionData(scoped in ElfSection section) =>
        section.Type == ElfSection.NoBits ? default : Slice(section.Offset, section.Size, "section data");

    /// <summary>The section's name from the section name table (empty when there is none).</summary>
    public ReadOnlySpan<byte> SectionName(scoped in ElfSection section)
    {
        int names = Header.SectionNameTableIndex;
        if (names == 0 || names >= SectionCount)
            return default;
        return CString(SectionData(Section(names)), section.NameOffset);
    }

    /// <summary>The first section named <paramref name="name"/> (e.g. ".plt"u8), and its index; false if none.</summary>
    public bool TryFindSection(ReadOnlySpan<byte> name, out ElfSection section, out int index)
    {
        for (index = 0; index < SectionCount; index++)
        {
            section = Section(index);
            if (SectionName(section).SequenceEqual(name))
                return true;
        }
        section = default;
        index = -1;
        return false;
    }

    /// <summary>The index of the first section of <paramref name="type"/>, or -1.</summary>
    public int FindSectionOfType(uint type)
    {
        for (int i = 0; i < SectionCount; i++)
            if (Section(i).Type == type)
                return i;
        return -1;
    }

    /// <summary>How many entries a symbol table section holds.</summary>
    public int SymbolCount(scoped in ElfSection table) => (int)Math.Min(table.Size / (ulong)Header.SymbolSize, int.MaxValue);

    /// <summary>Entry <paramref name="index"/> of a symbol table section.</summary>
    public ElfSymbol Symbol(scoped in ElfSection table, int index)
    {
        ulong size = (ulong)Header.SymbolSize;
        if ((ulong)index >= table.Size / size)
            throw new ElfFormatException($"symbol {index} is beyond its table", table.Offset);
        return Header.ReadSymbol(Slice(table.Offset + (ulong)index * size, size, "symbol"));
    }

    /// <summary>The string table a symbol table's names are in (its sh_link).</summary>
    public ReadOnlySpan<byte> LinkedStrings(scoped in ElfSection table) =>
        table.Link < (uint)SectionCount ? SectionData(Section((int)table.Link)) : default;

    /// <summary>How many entries a SHT_REL or SHT_RELA section holds.</summary>
    public int RelocationCount(scoped in ElfSection relocations) =>
        (int)Math.Min(relocations.Size / (ulong)RelocationSize(relocations), int.MaxValue);

    /// <summary>Entry <paramref name="index"/> of a SHT_REL or SHT_RELA section.</summary>
    public ElfRelocation Relocation(scoped in ElfSection relocations, int index)
    {
        int size = RelocationSize(relocations);
        return Header.ReadRelocation(Slice(relocations.Offset + (ulong)index * (ulong)size, (ulong)size, "relocation"),
            relocations.Type == ElfSection.Rela);
    }

    private int RelocationSize(scoped in ElfSection relocations) => relocations.Type == ElfSection.Rela ? Header.RelaSize : Header.RelSize;

    /// <summary>The NUL-terminated string at <paramref name="offset"/> in a string table (empty when outside it).</summary>
    public static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> strings, uint offset)
    {
        if (offset >= strings.Length)
            return default;
        ReadOnlySpan<byte> s = strings[(int)offset..];
        int nul = s.IndexOf((byte)0);
        return nul >= 0 ? s[..nul] : s;
    }

    public static string Utf8(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s);

    private ReadOnlySpan<byte> Slice(ulong offset, ulong length, string what)
    {
        ulong total = (ulong)_bytes.Length;
        if (offset > total || length > total - offset)
            throw new ElfFormatException($"{what} of {length} bytes lies outside the {total}-byte file", offset);
        return _bytes.Slice((int)offset, (int)length);
    }
}
