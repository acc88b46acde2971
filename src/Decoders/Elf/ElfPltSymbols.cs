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

    /// <summary>
    /// Where .plt starts, when stubs were named: a symbol before it that perf's size fixup stretched over it is cut
    /// there. Without stubs perf 6.1 leaves it stretched over the whole .plt, and so do we.
    /// </summary>
    public ulong? PltStart { get; }
    /// <summary>One "name@plt" per stub, in address order.</summary>
    public IReadOnlyList<(ulong Start, ulong Size, string Name)> Symbols { get; }

    /// <summary>The file's PLT symbols; <see cref="None"/> when it names no stub (no .plt, no entry size, no relocations). Throws <see cref="ElfFormatException"/> on a damaged table.</summary>
    public static ElfPltSymbols Read(in ElfFile elf)
    {
        if (!elf.TryFindSection(".plt"u8, out ElfSection plt, out _) || plt.Type == ElfSection.NoBits)
            return None;
        if (!TryGetSizes(elf.Header, plt, out ulong headerSize, out ulong entrySize))
            return None;

        // The header (PLT0) pushes the link map and jumps to the resolver; perf 6.1 gives it no symbol (6.3 calls it ".plt").
        ulong first = plt.Address + headerSize;
        if (elf.Header.IsX86 && elf.TryFindSection(".plt.sec"u8, out ElfSection pltSec, out _) && pltSec.Type != ElfSection.NoBits)
        {
            if (!TryGetSizes(elf.Header, pltSec, out _, out entrySize))
                return None;
            first = pltSec.Address;
        }

        if (!elf.TryFindSection(".dynsym"u8, out ElfSection dynsym, out int dynsymIndex) || dynsym.Type != ElfSection.DynamicSymbolTable)
            return None;
        if (!elf.TryFindSection(".rela.plt"u8, out ElfSection relocations, out _) && !elf.TryFindSection(".rel.plt"u8, out relocations, out _))
            return None;
        if (relocations.Link != (uint)dynsymIndex || relocations.Type is not (ElfSection.Rela or ElfSection.Rel))
            return None;
        ReadOnlySpan<byte> names = elf.LinkedStrings(dynsym);
        if (names.IsEmpty)
            return None;

        int count = elf.RelocationCount(relocations);
        var symbols = new List<(ulong Start, ulong Size, string Name)>(count);
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
        return symbols.Count == 0 ? None : new ElfPltSymbols(plt.Address, symbols);
    }

    /// <summary>
    /// perf 6.1's get_plt_sizes: fixed layouts on ARM, AArch64 and SPARC, sh_entsize for header and stubs elsewhere,
    /// x86 included. A .plt that gives no entry size (lld writes 0, e.g. in .NET's libcoreclr.so) gets no stub symbols
    /// from perf 6.1 (6.3 guesses 8 or 16 from the alignment); neither does it from us.
    /// </summary>
    private static bool TryGetSizes(in ElfHeader header, in ElfSection plt, out ulong headerSize, out ulong entrySize)
    {
        (headerSize, entrySize) = header.Machine switch
        {
            40 => (20UL, 12UL),          // EM_ARM
            183 => (32UL, 16UL),         // EM_AARCH64
            2 => (48UL, 12UL),           // EM_SPARC
            43 => (128UL, 32UL),         // EM_SPARCV9
            _ => (plt.EntrySize, plt.EntrySize),
        };
        return entrySize != 0;
    }
}
