namespace DotnetPtrace.Decoders.Elf;

/// <summary>
/// The <c>name@plt</c> symbols perf synthesises for a file's PLT stubs, which no symbol table lists
/// (dso__synthesize_plt_symbols in perf 6.1's symbol-elf.c). Each .rela.plt (else .rel.plt) entry, when that section's
/// sh_link is .dynsym, names one stub, in relocation order: the n-th relocation's .dynsym symbol names the n-th stub
/// after the PLT0 header (the lazy-binding trampoline, which gets no name), every stub the section's entry size.
/// As in perf 6.1, the relocations are not sorted (libc lists its IRELATIVE ones last, so perf 6.1 and we name some of
/// libc's stubs differently from objdump, which perf 6.3 follows), and a relocation without a symbol (IRELATIVE)
/// names its stub plain "@plt". On x86 with a .plt.sec (IBT, -z ibtplt) the calls go to .plt.sec, which has no header:
/// the stubs are named there, as objdump and perf since 6.3 do (perf 6.1 still names the lazy .plt entries).
/// Addresses are the ones the file's symbols use (sh_addr).
/// </summary>
public sealed class ElfPltSymbols
{
    public static readonly ElfPltSymbols None = new(null, []);

    private ElfPltSymbols(ulong? pltStart, List<(ulong Start, ulong Size, string Name)> symbols)
    {
        PltStart = pltStart;
        Symbols = symbols;
    }

    /// <summary>Where .plt starts: a symbol before it that perf's size fixup stretched over it is cut there.</summary>
    public ulong? PltStart { get; }
    /// <summary>One "name@plt" per stub, in address order.</summary>
    public IReadOnlyList<(ulong Start, ulong Size, string Name)> Symbols { get; }

    /// <summary>The file's PLT symbols; <see cref="None"/> when it has no .plt. Throws <see cref="ElfFormatException"/> on a damaged table.</summary>
    public static ElfPltSymbols Read(in ElfFile elf)
    {
        if (!elf.TryFindSection(".plt"u8, out ElfSection plt, out _) || plt.Type == ElfSection.NoBits)
            return None;
        var symbols = new List<(ulong Start, ulong Size, string Name)>();
        if (!TryGetSizes(elf.Header, plt, out ulong headerSize, out ulong entrySize))
            return new ElfPltSymbols(plt.Address, symbols);

        // The header (PLT0) pushes the link map and jumps to the resolver; perf 6.1 gives it no symbol (6.3 calls it ".plt").
        ulong first = plt.Address + headerSize;
        if (elf.Header.IsX86 && elf.TryFindSection(".plt.sec"u8, out ElfSection pltSec, out _) && pltSec.Type != ElfSection.NoBits)
        {
            if (!TryGetSizes(elf.Header, pltSec, out _, out entrySize))
                return new ElfPltSymbols(plt.Address, symbols);
            first = pltSec.Address;
        }

        if (!elf.TryFindSection(".dynsym"u8, out ElfSection dynsym, out int dynsymIndex) || dynsym.Type != ElfSection.DynamicSymbolTable)
            return new ElfPltSymbols(plt.Address, symbols);
        if (!elf.TryFindSection(".rela.plt"u8, out ElfSection relocations, out _) && !elf.TryFindSection(".rel.plt"u8, out relocations, out _))
            return new ElfPltSymbols(plt.Address, symbols);
        if (relocations.Link != (uint)dynsymIndex || relocations.Type is not (ElfSection.Rela or ElfSection.Rel))
            return new ElfPltSymbols(plt.Address, symbols);
        ReadOnlySpan<byte> names = elf.LinkedStrings(dynsym);
        if (names.IsEmpty)
            return new ElfPltSymbols(plt.Address, symbols);

        int count = elf.RelocationCount(relocations);
        int symbolCount = elf.SymbolCount(dynsym);
        for (int i = 0; i < count; i++)
        {
            // An IRELATIVE relocation (an ifunc in libc's own PLT) has symbol 0, whose name is empty: perf 6.1 names
            // that stub plain "@plt".
            uint index = elf.Relocation(relocations, i).SymbolIndex;
            string name = index < (uint)symbolCount
                ? ElfFile.Utf8(ElfFile.CString(names, elf.Symbol(dynsym, (int)index).NameOffset))
                : "";
            symbols.Add((first + (ulong)i * entrySize, entrySize, name + "@plt"));
        }
        return new ElfPltSymbols(plt.Address, symbols);
    }

    /// <summary>
    /// perf's get_plt_sizes: fixed layouts on ARM, AArch64 and SPARC; sh_entsize for both elsewhere. On x86 perf 6.1
    /// also takes sh_entsize, which a 32-bit .plt may give as 4: like perf 6.3 we take it only when it is 8 or 16,
    /// else 8 or 16 by the section's alignment, the header one entry (x86-64's .plt says 16 either way).
    /// </summary>
    private static bool TryGetSizes(in ElfHeader header, in ElfSection plt, out ulong headerSize, out ulong entrySize)
    {
        (headerSize, entrySize) = header.Machine switch
        {
            40 => (20UL, 12UL),          // EM_ARM
            183 => (32UL, 16UL),         // EM_AARCH64
            2 => (48UL, 12UL),           // EM_SPARC
            43 => (128UL, 32UL),         // EM_SPARCV9
            ElfHeader.MachineX86 or ElfHeader.MachineX86_64 => plt.EntrySize is 8 or 16
                ? (plt.EntrySize, plt.EntrySize)
                : plt.Alignment == 8 ? (8UL, 8UL) : (16UL, 16UL),
            _ => (plt.EntrySize, plt.EntrySize),
        };
        return entrySize != 0;
    }
}
