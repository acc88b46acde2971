namespace DotnetPtrace.Decoders.Elf;

/// <summary>
/// The function symbols of a little-endian ELF file (.symtab, else .dynsym, as perf prefers) and its PT_LOAD
/// segments, so that a file offset (what an mmap's pgoff gives) can be turned into the address symbols use.
/// Works the same for executables, PIE and shared objects. PLT stubs are named "name@plt" as perf names them
/// (<see cref="ElfPltSymbols"/>). Returns null for anything that is not such an ELF.
/// </summary>
public sealed class ElfSymbols
{
    private const int MaxFileBytes = 1 << 30;
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;
    /// <summary>The symbol table's functions after alias removal (what a debug file lends to its stripped original).</summary>
    private readonly List<(ulong Start, ulong Size, string Name)> _functions;
    private readonly ElfPltSymbols _plt;
    private readonly (ulong Offset, ulong Vaddr, ulong FileSize)[] _loads;

    private ElfSymbols(List<(ulong Start, ulong Size, string Name)> functions, ElfPltSymbols plt, (ulong, ulong, ulong)[] loads,
        bool fromSymtab, string? debugLink)
    {
        HasSymtab = fromSymtab;
        DebugLink = debugLink;
        _functions = functions;
        _plt = plt;
        _loads = loads;

        var all = new List<(ulong Start, ulong End, string Name)>(functions.Count + plt.Symbols.Count);
        for (int i = 0; i < functions.Count; i++)
        {
            var (start, size, name) = functions[i];
            // perf's symbols__fixup_end: a symbol without a size ends where the next one starts (the last one never).
            ulong end = size != 0 ? (size > ulong.MaxValue - start ? ulong.MaxValue : start + size)
                : i + 1 < functions.Count ? functions[i + 1].Start : ulong.MaxValue;
            // ...but not over the PLT, whose stubs perf adds after that fixup (_init, just before .plt, was stretched
            // over every stub until perf 6.3 cut it at .plt: "perf symbols: Add symbol for .plt header").
            if (plt.PltStart is ulong pltStart && start < pltStart && end > pltStart)
                end = pltStart;
            all.Add((start, end, name));
        }
        foreach (var (start, size, name) in plt.Symbols)
            all.Add((start, start + size, name));
        all = [.. all.OrderBy(s => s.Start)];   // stable: the symbol table's functions first among equals
        _starts = all.Select(s => s.Start).ToArray();
        _ends = all.Select(s => s.End).ToArray();
        _names = all.Select(s => s.Name).ToArray();
    }

    public int Count => _names.Length;
    /// <summary>True when the symbols came from .symtab; false means only exported .dynsym names (a stripped file).</summary>
    public bool HasSymtab { get; }
    /// <summary>The file name in .gnu_debuglink: where a stripped file's symbols were moved to.</summary>
    public string? DebugLink { get; }

    /// <summary>
    /// This file's segments and PLT stubs with another file's symbols (a separate debug file of the same build; perf
    /// too takes the PLT from the file that runs, since a debug file's .plt holds no bytes).
    /// </summary>
    public ElfSymbols WithSymbolsOf(ElfSymbols debug) => new(debug._functions, _plt, _loads, debug.HasSymtab, DebugLink);

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
        try { return ElfFile.TryOpen(elf, out ElfFile file) ? Parse(file) : null; }
        catch (Exception e) when (e is ElfFormatException or ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException) { return null; }
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
        if (i < 0) return false;
        // Several symbols can share a start (a function and a stub, say): the first listed wins, as it does in perf.
        while (i > 0 && _starts[i - 1] == _starts[i]) i--;
        if (address >= _ends[i]) return false;
        name = _names[i];
        offset = address - _starts[i];
        size = _ends[i] - _starts[i];
        return true;
    }

    private static ElfSymbols Parse(in ElfFile elf)
    {
        var loads = new List<(ulong, ulong, ulong)>();
        for (int i = 0; i < elf.SegmentCount; i++)
        {
            ElfSegment segment = elf.Segment(i);
            if (segment.Type == ElfSegment.Load) loads.Add((segment.Offset, segment.VirtualAddress, segment.FileSize));
        }

        string? debugLink = null;
        if (elf.TryFindSection(".gnu_debuglink"u8, out ElfSection link, out _))
            debugLink = ElfFile.Utf8(ElfFile.CString(elf.SectionData(link), 0));

        int table = elf.FindSectionOfType(ElfSection.SymbolTable);
        if (table < 0) table = elf.FindSectionOfType(ElfSection.DynamicSymbolTable);
        var symbols = new List<(ulong Start, ulong Size, string Name, int Binding)>();
        if (table >= 0)
        {
            ElfSection st = elf.Section(table);
            ReadOnlySpan<byte> strtab = elf.LinkedStrings(st);
            for (int i = 0, count = elf.SymbolCount(st); i < count; i++)
            {
                ElfSymbol sym = elf.Symbol(st, i);
                // perf (dso__load_sym): functions (FUNC, GNU_IFUNC) that are defined, and labels (NOTYPE, e.g. the
                // assembly entry points of ld.so) that sit in an executable section.
                if (sym.SectionIndex == ElfSymbol.Undefined || sym.NameOffset == 0 || sym.NameOffset >= strtab.Length) continue;
                bool function = sym.Type is ElfSymbol.Function or ElfSymbol.GnuIndirectFunction;
                bool label = sym.Type == ElfSymbol.NoType && sym.SectionIndex < ElfSymbol.FirstReservedIndex
                    && sym.SectionIndex < elf.SectionCount && elf.Section(sym.SectionIndex).IsExecutable;
                if (!function && !label) continue;
                symbols.Add((sym.Value, sym.Size, ElfFile.Utf8(ElfFile.CString(strtab, sym.NameOffset)), sym.Binding));
            }
        }
        bool fromSymtab = table >= 0 && elf.Section(table).Type == ElfSection.SymbolTable;
        return new ElfSymbols(RemoveAliases(symbols), ElfPltSymbols.Read(elf), [.. loads], fromSymtab, debugLink);
    }

    /// <summary>
    /// Several names for one address (aliases, versioned names): keep the one perf keeps (symbols__fixup_duplicate
    /// and choose_best_symbol): non-zero size, then not weak, then global, then fewer leading underscores, then the
    /// longer name, else the first in file order. The result is sorted by address.
    /// </summary>
    private static List<(ulong, ulong, string)> RemoveAliases(List<(ulong Start, ulong Size, string Name, int Binding)> symbols)
    {
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
            if ((a.Binding == ElfSymbol.Weak) != (b.Binding == ElfSymbol.Weak)) return b.Binding == ElfSymbol.Weak;
            if ((a.Binding == ElfSymbol.Global) != (b.Binding == ElfSymbol.Global)) return a.Binding == ElfSymbol.Global;
            int ua = a.Name.Length - a.Name.TrimStart('_').Length, ub = b.Name.Length - b.Name.TrimStart('_').Length;
            if (ua != ub) return ua < ub;
            if (a.Name.Length != b.Name.Length) return a.Name.Length > b.Name.Length;
            return true;
        }
    }
}
