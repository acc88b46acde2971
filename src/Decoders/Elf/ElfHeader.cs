using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.Elf;

/// <summary>A program header (Elf32_Phdr / Elf64_Phdr): a segment the loader maps.</summary>
public readonly record struct ElfSegment(uint Type, ulong Offset, ulong VirtualAddress, ulong FileSize, ulong MemorySize, ulong Alignment)
{
    public const uint Load = 1;   // PT_LOAD
    public const uint Note = 4;   // PT_NOTE
}

/// <summary>A section header (Elf32_Shdr / Elf64_Shdr).</summary>
public readonly record struct ElfSection(
    uint NameOffset, uint Type, ulong Flags, ulong Address, ulong Offset, ulong Size, uint Link, uint Info, ulong Alignment, ulong EntrySize)
{
    public const uint SymbolTable = 2;        // SHT_SYMTAB
    public const uint Rela = 4;               // SHT_RELA
    public const uint Note = 7;               // SHT_NOTE
    public const uint NoBits = 8;             // SHT_NOBITS: occupies no file bytes (.bss, a debug file's .text)
    public const uint Rel = 9;                // SHT_REL
    public const uint DynamicSymbolTable = 11; // SHT_DYNSYM
    public const ulong ExecutableFlag = 4;    // SHF_EXECINSTR

    public bool IsExecutable => (Flags & ExecutableFlag) != 0;
    public bool Contains(ulong address) => address >= Address && address - Address < Size;
}

/// <summary>A symbol table entry (Elf32_Sym / Elf64_Sym).</summary>
public readonly record struct ElfSymbol(uint NameOffset, byte Info, ushort SectionIndex, ulong Value, ulong Size)
{
    public const int NoType = 0, Function = 2, GnuIndirectFunction = 10;   // STT_*
    public const int Global = 1, Weak = 2;                               // STB_*
    public const ushort Undefined = 0, FirstReservedIndex = 0xff00;       // SHN_UNDEF, SHN_LORESERVE

    public int Type => Info & 0xf;
    public int Binding => Info >> 4;
}

/// <summary>A relocation (Elf_Rel or Elf_Rela; the addend is 0 for Rel).</summary>
public readonly record struct ElfRelocation(ulong Offset, uint SymbolIndex, uint Type, long Addend);

/// <summary>
/// The ELF file header of a little-endian ELF32 or ELF64 file, and the layouts of the entries its tables hold. Parsing
/// an entry takes the entry's bytes, so a caller may read tables from a file piecewise or from memory alike.
/// </summary>
public readonly record struct ElfHeader(
    bool Is64, ushort FileType, ushort Machine,
    ulong ProgramHeaderOffset, int ProgramHeaderEntrySize, int ProgramHeaderCount,
    ulong SectionHeaderOffset, int SectionHeaderEntrySize, int SectionHeaderCount, int SectionNameTableIndex)
{
    public const ushort MachineX86 = 3, MachineX86_64 = 62;   // EM_386, EM_X86_64
    /// <summary>Bytes needed to parse the header: an Elf64_Ehdr is the larger (64; an Elf32_Ehdr is 52).</summary>
    public const int MaxSize = 64;

    public int HeaderSize => Is64 ? 64 : 52;
    public int MinProgramHeaderSize => Is64 ? 56 : 32;
    public int MinSectionHeaderSize => Is64 ? 64 : 40;
    public int SymbolSize => Is64 ? 24 : 16;
    public int RelSize => Is64 ? 16 : 8;
    public int RelaSize => Is64 ? 24 : 12;
    public bool IsX86 => Machine is MachineX86 or MachineX86_64;

    /// <summary>Parses the ELF header at the start of <paramref name="bytes"/>; false if it is not a little-endian ELF32/ELF64.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out ElfHeader header)
    {
        header = default;
        if (bytes.Length < 52 || bytes[0] != 0x7f || bytes[1] != 'E' || bytes[2] != 'L' || bytes[3] != 'F')
            return false;
        if (bytes[5] != 1)   // EI_DATA: ELFDATA2LSB only
            return false;
        if (bytes[4] == 2 && bytes.Length >= 64)   // ELFCLASS64
        {
            header = new ElfHeader(true, U16(bytes, 16), U16(bytes, 18),
                U64(bytes, 32), U16(bytes, 54), U16(bytes, 56),
                U64(bytes, 40), U16(bytes, 58), U16(bytes, 60), U16(bytes, 62));
            return true;
        }
        if (bytes[4] == 1)   // ELFCLASS32
        {
            header = new ElfHeader(false, U16(bytes, 16), U16(bytes, 18),
                U32(bytes, 28), U16(bytes, 42), U16(bytes, 44),
                U32(bytes, 32), U16(bytes, 46), U16(bytes, 48), U16(bytes, 50));
            return true;
        }
        return false;
    }

    /// <summary>Elf64_Phdr {type, flags, offset, vaddr, paddr, filesz, memsz, align} / Elf32_Phdr {type, offset, vaddr, paddr, filesz, memsz, flags, align}.</summary>
    public ElfSegment ReadSegment(ReadOnlySpan<byte> e) => Is64
        ? new(U32(e, 0), U64(e, 8), U64(e, 16), U64(e, 32), U64(e, 40), U64(e, 48))
        : new(U32(e, 0), U32(e, 4), U32(e, 8), U32(e, 16), U32(e, 20), U32(e, 28));

    /// <summary>Elf64_Shdr {name, type, flags, addr, offset, size, link, info, addralign, entsize} / Elf32_Shdr (all u32).</summary>
    public ElfSection ReadSection(ReadOnlySpan<byte> e) => Is64
        ? new(U32(e, 0), U32(e, 4), U64(e, 8), U64(e, 16), U64(e, 24), U64(e, 32), U32(e, 40), U32(e, 44), U64(e, 48), U64(e, 56))
        : new(U32(e, 0), U32(e, 4), U32(e, 8), U32(e, 12), U32(e, 16), U32(e, 20), U32(e, 24), U32(e, 28), U32(e, 32), U32(e, 36));

    /// <summary>Elf64_Sym {name, info, other, shndx, value, size} / Elf32_Sym {name, value, size, info, other, shndx}.</summary>
    public ElfSymbol ReadSymbol(ReadOnlySpan<byte> e) => Is64
        ? new(U32(e, 0), e[4], U16(e, 6), U64(e, 8), U64(e, 16))
        : new(U32(e, 0), e[12], U16(e, 14), U32(e, 4), U32(e, 8));

    /// <summary>Elf64_Rel(a) {offset, info (sym &lt;&lt; 32 | type), addend} / Elf32_Rel(a) {offset, info (sym &lt;&lt; 8 | type), addend}.</summary>
    public ElfRelocation ReadRelocation(ReadOnlySpan<byte> e, bool withAddend)
    {
        if (Is64)
        {
            ulong info = U64(e, 8);
            return new(U64(e, 0), (uint)(info >> 32), (uint)info, withAddend ? (long)U64(e, 16) : 0);
        }
        uint info32 = U32(e, 4);
        return new(U32(e, 0), info32 >> 8, info32 & 0xff, withAddend ? (int)U32(e, 8) : 0);
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
