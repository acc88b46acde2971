using DotnetPtrace.Decoders.Elf;

namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>One function of an ELF file as an address filter needs it: where its code is in the file.</summary>
/// <param name="FileOffset">st_value turned into a file offset through the PT_LOAD that holds it (what the kernel's
/// file-based filters match against the mapping's pgoff; perf adjusts user symbols the same way).</param>
/// <param name="Size">st_size, or the distance to the next function when the symbol has none (perf's fixup).</param>
public readonly record struct ElfFunction(string Name, ulong Address, ulong FileOffset, ulong Size, bool Global);

/// <summary>
/// The function symbols of an ELF file by name, for resolving address filters (`filter main @ /bin/prog`): .symtab,
/// else .dynsym, functions and GNU ifuncs plus labels in executable sections, as perf loads them. Little-endian
/// ELF32/ELF64. Kept apart from the decoders' address-to-name table because filters need what that table drops:
/// every alias, the binding, and file offsets.
/// </summary>
public sealed class ElfFunctionTable
{
    private readonly ElfFunction[] _functions;   // sorted by address, file order among equals

    private ElfFunctionTable(ElfFunction[] functions, ulong fileSize)
    {
        _functions = functions;
        FileSize = fileSize;
    }

    public ulong FileSize { get; }
    public IReadOnlyList<ElfFunction> Functions => _functions;

    /// <summary>Every function called <paramref name="name"/>, in address order.</summary>
    public IReadOnlyList<ElfFunction> Named(string name) => _functions.Where(f => f.Name == name).ToArray();

    /// <summary>Reads <paramref name="path"/>; throws <see cref="AddressFilterException"/> naming the file when it is not a readable ELF.</summary>
    public static ElfFunctionTable Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AddressFilterException($"cannot read {path}: {e.Message}");
        }
        if (!ElfFile.TryOpen(bytes, out ElfFile elf))
            throw new AddressFilterException($"{path} is not a little-endian ELF file");
        try
        {
            return Parse(elf);
        }
        catch (Exception e) when (e is ElfFormatException or ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
        {
            throw new AddressFilterException($"{path}: damaged ELF file (a header points outside the file)");
        }
    }

    private static ElfFunctionTable Parse(in ElfFile elf)
    {
        var loads = new List<ElfSegment>();
        for (int i = 0; i < elf.SegmentCount; i++)
            if (elf.Segment(i) is { Type: ElfSegment.Load } load) loads.Add(load);
        int table = elf.FindSectionOfType(ElfSection.SymbolTable);
        if (table < 0) table = elf.FindSectionOfType(ElfSection.DynamicSymbolTable);
        var found = new List<(ulong Value, ulong Size, string Name, bool Global, ElfSection Section)>();
        if (table >= 0)
        {
            ElfSection st = elf.Section(table);
            ReadOnlySpan<byte> strtab = elf.LinkedStrings(st);
            for (int i = 0, count = elf.SymbolCount(st); i < count; i++)
            {
                ElfSymbol sym = elf.Symbol(st, i);
                if (sym.SectionIndex == ElfSymbol.Undefined || sym.SectionIndex >= ElfSymbol.FirstReservedIndex
                    || sym.SectionIndex >= elf.SectionCount || sym.NameOffset == 0 || sym.NameOffset >= strtab.Length) continue;
                ElfSection section = elf.Section(sym.SectionIndex);
                bool function = sym.Type is ElfSymbol.Function or ElfSymbol.GnuIndirectFunction;
                bool label = sym.Type == ElfSymbol.NoType && section.IsExecutable;      // NOTYPE in SHF_EXECINSTR
                if (!function && !label) continue;
                found.Add((sym.Value, sym.Size, ElfFile.Utf8(ElfFile.CString(strtab, sym.NameOffset)), sym.Binding == ElfSymbol.Global, section));
            }
        }
        var ordered = found.Select((f, i) => (f, i)).OrderBy(x => x.f.Value).ThenBy(x => x.i).Select(x => x.f).ToList();
        var functions = new ElfFunction[ordered.Count];
        for (int i = 0; i < ordered.Count; i++)
        {
            var (value, size, name, global, section) = ordered[i];
            if (size == 0)
            {
                // perf's symbols__fixup_end: a symbol without a size ends where the next one starts.
                int next = i + 1;
                while (next < ordered.Count && ordered[next].Value == value) next++;
                size = next < ordered.Count ? ordered[next].Value - value : 0;
            }
            functions[i] = new ElfFunction(name, value, ToFileOffset(value, loads, section), size, global);
        }
        return new ElfFunctionTable(functions, (ulong)elf.Length);
    }

    /// <summary>perf's dso__load_sym adjustment: st_value - (p_vaddr - p_offset), else by the section.</summary>
    private static ulong ToFileOffset(ulong value, List<ElfSegment> loads, in ElfSection section)
    {
        foreach (ElfSegment load in loads)
            if (value >= load.VirtualAddress && value < load.VirtualAddress + load.MemorySize) return value - (load.VirtualAddress - load.Offset);
        return value - (section.Address - section.Offset);
    }
}
