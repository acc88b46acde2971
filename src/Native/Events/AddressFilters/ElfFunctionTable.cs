using System.Buffers.Binary;
using System.Text;

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
        try
        {
            return Parse(bytes) ?? throw new AddressFilterException($"{path} is not a little-endian ELF file");
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
        {
            throw new AddressFilterException($"{path}: damaged ELF file (a header points outside the file)");
        }
    }

    private static ElfFunctionTable? Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length < 52 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F' || b[5] != 1) return null;
        bool is64 = b[4] == 2;
        ulong phoff = is64 ? U64(b, 32) : U32(b, 28);
        ulong shoff = is64 ? U64(b, 40) : U32(b, 32);
        int phentsize = U16(b, is64 ? 54 : 42), phnum = U16(b, is64 ? 56 : 44);
        int shentsize = U16(b, is64 ? 58 : 46), shnum = U16(b, is64 ? 60 : 48);

        var loads = new List<(ulong Offset, ulong Vaddr, ulong MemSize)>();
        for (int i = 0; i < phnum; i++)
        {
            int o = Checked(phoff + (ulong)(i * phentsize), phentsize, b.Length);
            if (U32(b, o) != 1) continue;   // PT_LOAD
            loads.Add(is64 ? (U64(b, o + 8), U64(b, o + 16), U64(b, o + 40)) : (U32(b, o + 4), U32(b, o + 8), U32(b, o + 20)));
        }
        var sections = new (uint Type, ulong Flags, ulong Addr, ulong Offset, ulong Size, uint Link)[shnum];
        for (int i = 0; i < shnum; i++)
        {
            int o = Checked(shoff + (ulong)(i * shentsize), shentsize, b.Length);
            sections[i] = is64
                ? (U32(b, o + 4), U64(b, o + 8), U64(b, o + 16), U64(b, o + 24), U64(b, o + 32), U32(b, o + 40))
                : (U32(b, o + 4), U32(b, o + 8), U32(b, o + 12), U32(b, o + 16), U32(b, o + 20), U32(b, o + 24));
        }
        int table = Array.FindIndex(sections, s => s.Type == 2);                 // SHT_SYMTAB
        if (table < 0) table = Array.FindIndex(sections, s => s.Type == 11);     // SHT_DYNSYM
        var found = new List<(ulong Value, ulong Size, string Name, bool Global, int Section)>();
        if (table >= 0 && sections[table].Link < sections.Length)
        {
            var st = sections[table];
            var strs = sections[st.Link];
            int entSize = is64 ? 24 : 16;
            ReadOnlySpan<byte> strtab = b.Slice(Checked(strs.Offset, (int)strs.Size, b.Length), (int)strs.Size);
            for (ulong i = 0, count = st.Size / (ulong)entSize; i < count; i++)
            {
                int o = Checked(st.Offset + i * (ulong)entSize, entSize, b.Length);
                uint nameOff = U32(b, o);
                byte info = is64 ? b[o + 4] : b[o + 12];
                ushort shndx = U16(b, is64 ? o + 6 : o + 14);
                ulong value = is64 ? U64(b, o + 8) : U32(b, o + 4);
                ulong size = is64 ? U64(b, o + 16) : U32(b, o + 8);
                int type = info & 0xf;
                if (shndx == 0 || shndx >= 0xff00 || shndx >= sections.Length || nameOff == 0 || nameOff >= strtab.Length) continue;
                bool function = type is 2 or 10;                                       // STT_FUNC, STT_GNU_IFUNC
                bool label = type == 0 && (sections[shndx].Flags & 4) != 0;          // NOTYPE in SHF_EXECINSTR
                if (!function && !label) continue;
                ReadOnlySpan<byte> n = strtab[(int)nameOff..];
                int nul = n.IndexOf((byte)0);
                found.Add((value, size, Encoding.UTF8.GetString(nul >= 0 ? n[..nul] : n), info >> 4 == 1, shndx));
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
            functions[i] = new ElfFunction(name, value, ToFileOffset(value, loads, sections[section]), size, global);
        }
        return new ElfFunctionTable(functions, (ulong)b.Length);
    }

    /// <summary>perf's dso__load_sym adjustment: st_value - (p_vaddr - p_offset), else by the section.</summary>
    private static ulong ToFileOffset(ulong value, List<(ulong Offset, ulong Vaddr, ulong MemSize)> loads,
        (uint Type, ulong Flags, ulong Addr, ulong Offset, ulong Size, uint Link) section)
    {
        foreach (var (offset, vaddr, memSize) in loads)
            if (value >= vaddr && value < vaddr + memSize) return value - (vaddr - offset);
        return value - (section.Addr - section.Offset);
    }

    private static int Checked(ulong offset, int length, int total)
    {
        if (length < 0 || offset > (ulong)total || (ulong)length > (ulong)total - offset) throw new ArgumentOutOfRangeException(nameof(offset));
        return (int)offset;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
