using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.Elf;

/// <summary>
/// The function symbols of a little-endian ELF file (.symtab, else .dynsym, as perf prefers) and its PT_LOAD
/// segments, so that a file offset (what an mmap's pgoff gives) can be turned into the address symbols use.
/// Works the same for executables, PIE and shared objects. Returns null for anything that is not such an ELF.
/// </summary>
public sealed class ElfSymbols
{
    private const int MaxFileBytes = 1 << 30;
    private readonly ulong[] _starts;
    private readonly ulong[] _sizes;
    private readonly string[] _names;
    private readonly (ulong Offset, ulong Vaddr, ulong FileSize)[] _loads;

    private ElfSymbols(List<(ulong Start, ulong Size, string Name)> symbols, (ulong, ulong, ulong)[] loads, bool fromSymtab, string? debugLink)
    {
        HasSymtab = fromSymtab;
        DebugLink = debugLink;
        symbols = [.. symbols.OrderBy(s => s.Start)];   // stable: file order decides among equals, as in perf's rb-tree
        _starts = symbols.Select(s => s.Start).ToArray();
        _sizes = symbols.Select(s => s.Size).ToArray();
        _names = symbols.Select(s => s.Name).ToArray();
        _loads = loads;
    }

    public int Count => _names.Length;
    /// <summary>True when the symbols came from .symtab; false means only exported .dynsym names (a stripped file).</summary>
    public bool HasSymtab { get; }
    /// <summary>The file name in .gnu_debuglink: where a stripped file's symbols were moved to.</summary>
    public string? DebugLink { get; }

    /// <summary>This file's segments with another file's symbols (a separate debug file of the same build).</summary>
    public ElfSymbols WithSymbolsOf(ElfSymbols debug) =>
        new(debug._starts.Select((s, i) => (s, debug._sizes[i], debug._names[i])).ToList(), _loads, debug.HasSymtab, DebugLink);

    /// <summary>The file's symbols, or null if it is missing, unreadable or not a little-endian ELF.</summary>
    public static ElfSymbols? TryLoad(string path)
    {
        try
        {
            if (!File.Exists(path)) return null;
            var info = new FileInfo(path);
            if (info.Length > MaxFileBytes || info.Length < 52) return null;
            return TryParse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static ElfSymbols? TryParse(ReadOnlySpan<byte> elf)
    {
        try { return Parse(elf); }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException) { return null; }
    }

    /// <summary>The address symbols use for a file offset (inside a PT_LOAD), or null when no segment holds it.</summary>
    public ulong? FileOffsetToAddress(ulong offset)
    {
        foreach (var (off, vaddr, size) in _loads)
            if (offset >= off && offset < off + size) return offset - off + vaddr;
        return null;
    }

    /// <summary>The function holding <paramref name="address"/> and the offset into it, or false.</summary>
    public bool TryFind(ulong address, out string name, out ulong offset) => TryFind(address, out name, out offset, out _);

    /// <summary>As <see cref="TryFind(ulong, out string, out ulong)"/>, with the bytes the function covers (to the next symbol when its size is 0).</summary>
    public bool TryFind(ulong address, out string name, out ulong offset, out ulong size)
    {
        name = "";
        offset = 0;
        size = 0;
        int i = Array.BinarySearch(_starts, address);
        if (i < 0) i = ~i - 1;
        // Several symbols can share a start (aliases): any is right, perf takes the first.
        while (i > 0 && _starts[i - 1] == _starts[Math.Max(i, 0)]) i--;
        if (i < 0) return false;
        ulong end = _sizes[i] != 0 ? _starts[i] + _sizes[i] : i + 1 < _starts.Length ? _starts[i + 1] : ulong.MaxValue;
        if (address >= end) return false;
        name = _names[i];
        offset = address - _starts[i];
        size = end - _starts[i];
        return true;
    }

    private static ElfSymbols? Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length < 52 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F' || b[5] != 1) return null;
        bool is64 = b[4] == 2;
        ulong phoff = is64 ? U64(b, 32) : U32(b, 28);
        ulong shoff = is64 ? U64(b, 40) : U32(b, 32);
        int phentsize = U16(b, is64 ? 54 : 42), phnum = U16(b, is64 ? 56 : 44);
        int shentsize = U16(b, is64 ? 58 : 46), shnum = U16(b, is64 ? 60 : 48);

        var loads = new List<(ulong, ulong, ulong)>();
        for (int i = 0; i < phnum; i++)
        {
            int o = Checked(phoff + (ulong)(i * phentsize), phentsize, b.Length);
            if (U32(b, o) != 1) continue;  // PT_LOAD
            ulong off = is64 ? U64(b, o + 8) : U32(b, o + 4);
            ulong vaddr = is64 ? U64(b, o + 16) : U32(b, o + 8);
            ulong filesz = is64 ? U64(b, o + 32) : U32(b, o + 16);
            loads.Add((off, vaddr, filesz));
        }

        var sections = new (uint Type, ulong Offset, ulong Size, uint Link, ulong Flags)[shnum];
        for (int i = 0; i < shnum; i++)
        {
            int o = Checked(shoff + (ulong)(i * shentsize), shentsize, b.Length);
            sections[i] = is64
                ? (U32(b, o + 4), U64(b, o + 24), U64(b, o + 32), U32(b, o + 40), U64(b, o + 8))
                : (U32(b, o + 4), U32(b, o + 16), U32(b, o + 20), U32(b, o + 24), U32(b, o + 8));
        }
        int table = Array.FindIndex(sections, s => s.Type == 2);        // SHT_SYMTAB
        if (table < 0) table = Array.FindIndex(sections, s => s.Type == 11);  // SHT_DYNSYM
        string? debugLink = null;
        int shstrndx = U16(b, is64 ? 62 : 50);
        if (shstrndx < shnum)
        {
            var names = sections[shstrndx];
            int namesOff = Checked(names.Offset, (int)Math.Min(names.Size, int.MaxValue), b.Length);
            for (int i = 0; i < shnum; i++)
            {
                int o = Checked(shoff + (ulong)(i * shentsize), shentsize, b.Length);
                uint nameIndex = U32(b, o);
                if (nameIndex >= names.Size) continue;
                ReadOnlySpan<byte> n = b.Slice(namesOff + (int)nameIndex, (int)names.Size - (int)nameIndex);
                if (!n.StartsWith(".gnu_debuglink\0"u8)) continue;
                int linkOff = Checked(sections[i].Offset, (int)Math.Min(sections[i].Size, int.MaxValue), b.Length);
                ReadOnlySpan<byte> link = b.Slice(linkOff, (int)sections[i].Size);
                int nul = link.IndexOf((byte)0);
                debugLink = Encoding.UTF8.GetString(nul >= 0 ? link[..nul] : link);
            }
        }
        var symbols = new List<(ulong Start, ulong Size, string Name, int Binding)>();
        if (table >= 0 && sections[table].Link < sections.Length)
        {
            var st = sections[table];
            var strs = sections[st.Link];
            int entSize = is64 ? 24 : 16;
            int strOff = Checked(strs.Offset, (int)Math.Min(strs.Size, int.MaxValue), b.Length);
            ReadOnlySpan<byte> strtab = b.Slice(strOff, (int)strs.Size);
            ulong count = st.Size / (ulong)entSize;
            for (ulong i = 0; i < count; i++)
            {
                int o = Checked(st.Offset + i * (ulong)entSize, entSize, b.Length);
                uint nameOff = U32(b, o);
                byte info = is64 ? b[o + 4] : b[o + 12];
                ushort shndx = U16(b, is64 ? o + 6 : o + 14);
                ulong value = is64 ? U64(b, o + 8) : U32(b, o + 4);
                ulong size = is64 ? U64(b, o + 16) : U32(b, o + 8);
                int type = info & 0xf;
                // perf (dso__load_sym): functions (FUNC, GNU_IFUNC) that are defined, and labels (NOTYPE, e.g. the
                // assembly entry points of ld.so) that sit in an executable section.
                if (shndx == 0 || nameOff == 0 || nameOff >= strtab.Length) continue;
                bool function = type is 2 or 10;
                bool label = type == 0 && shndx < 0xff00 && shndx < sections.Length && (sections[shndx].Flags & 4) != 0;   // SHF_EXECINSTR
                if (!function && !label) continue;
                ReadOnlySpan<byte> n = strtab[(int)nameOff..];
                int nul = n.IndexOf((byte)0);
                symbols.Add((value, size, Encoding.UTF8.GetString(nul >= 0 ? n[..nul] : n), info >> 4));
            }
        }
        return new ElfSymbols(RemoveAliases(symbols), [.. loads], table >= 0 && sections[table].Type == 2, debugLink);
    }

    /// <summary>
    /// Several names for one address (aliases, versioned names): keep the one perf keeps (symbols__fixup_duplicate
    /// and choose_best_symbol): non-zero size, then not weak, then global, then fewer leading underscores, then the
    /// longer name, else the first in file order.
    /// </summary>
    private static List<(ulong, ulong, string)> RemoveAliases(List<(ulong Start, ulong Size, string Name, int Binding)> symbols)
    {
        const int Global = 1, Weak = 2;
        var sorted = symbols.OrderBy(s => s.Start).ToList();
        var kept = new List<(ulong Start, ulong Size, string Name, int Binding)>(sorted.Count);
        foreach (var s in sorted)
        {
            if (kept.Count == 0 || kept[^1].Start != s.Start) { kept.Add(s); continue; }
            var a = kept[^1];
            if (!FirstIsBetter(a, s)) kept[^1] = s;
        }
        return kept.Select(k => (k.Start, k.Size, k.Name)).ToList();

        static bool FirstIsBetter((ulong Start, ulong Size, string Name, int Binding) a, (ulong Start, ulong Size, string Name, int Binding) b)
        {
            if ((a.Size > 0) != (b.Size > 0)) return a.Size > 0;
            if ((a.Binding == Weak) != (b.Binding == Weak)) return b.Binding == Weak;
            if ((a.Binding == Global) != (b.Binding == Global)) return a.Binding == Global;
            int ua = a.Name.Length - a.Name.TrimStart('_').Length, ub = b.Name.Length - b.Name.TrimStart('_').Length;
            if (ua != ub) return ua < ub;
            if (a.Name.Length != b.Name.Length) return a.Name.Length > b.Name.Length;
            return true;
        }
    }

    private static int Checked(ulong offset, int length, int total)
    {
        if (offset > (ulong)total || (ulong)length > (ulong)total - offset) throw new ArgumentOutOfRangeException(nameof(offset));
        return (int)offset;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
