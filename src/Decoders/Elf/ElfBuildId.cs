using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace DotnetPtrace.Decoders.Elf;

/// <summary>
/// Reads the GNU build-id (the <c>NT_GNU_BUILD_ID</c> note) of a little-endian ELF file, 64- or 32-bit, the way
/// perf does: from the PT_NOTE segments first, then from SHT_NOTE sections (object files and some stripped
/// binaries only have the latter). perf.data uses build-ids to find the exact binary a sample ran in.
/// Every method returns null for anything that is not a well-formed ELF with a build-id; none throws.
/// </summary>
public static class ElfBuildId
{
    /// <summary>Largest note area we are willing to read; real ones are a few hundred bytes.</summary>
    private const int MaxNoteAreaBytes = 1 << 20;
    /// <summary>Largest header table (program or section headers) we read; 65535 64-byte entries fit.</summary>
    private const int MaxHeaderTableBytes = 65535 * 64;

    private const uint PtNote = 4;
    private const uint ShtNote = 7;
    private const uint NtGnuBuildId = 3;

    /// <summary>The build-id of the ELF file at <paramref name="path"/>, or null.</summary>
    public static byte[]? TryRead(string path)
    {
        try
        {
            // Only regular files: a mapped name can be a device node, where a read could block or never end.
            if (!File.Exists(path) || (File.GetAttributes(path) & (FileAttributes.Directory | FileAttributes.Device)) != 0)
                return null;
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long length = RandomAccess.GetLength(handle);
            return TryRead(new FileSource(handle, length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>The build-id of an ELF image held in memory, or null.</summary>
    public static byte[]? TryRead(ReadOnlySpan<byte> elf)
    {
        return TryRead(new MemorySource(elf));
    }

    /// <summary>
    /// The build-id in a raw note list such as <c>/sys/kernel/notes</c> (the kernel's own notes, 4-byte aligned),
    /// or null.
    /// </summary>
    public static byte[]? TryReadNotes(ReadOnlySpan<byte> notes) => FindBuildIdNote(notes, alignment: 4);

    private static byte[]? TryRead<TSource>(TSource source) where TSource : IByteSource, allows ref struct
    {
        Span<byte> ident = stackalloc byte[64];
        if (source.Read(0, ident) < 52)  // 52 = size of an Elf32_Ehdr, the smaller of the two
            return null;
        if (ident[0] != 0x7f || ident[1] != (byte)'E' || ident[2] != (byte)'L' || ident[3] != (byte)'F')
            return null;
        if (ident[5] != 1)  // EI_DATA: ELFDATA2LSB only
            return null;

        ElfLayout? layout = ident[4] switch
        {
            1 => ElfLayout.Elf32(ident),
            2 => ElfLayout.Elf64(ident),
            _ => null,
        };
        if (layout is not { } l)
            return null;

        return FromNoteRegions(source, l, sections: false) ?? FromNoteRegions(source, l, sections: true);
    }

    /// <summary>Walks the program headers (PT_NOTE) or the section headers (SHT_NOTE) and searches each note area.</summary>
    private static byte[]? FromNoteRegions<TSource>(TSource source, ElfLayout layout, bool sections)
        where TSource : IByteSource, allows ref struct
    {
        ulong tableOffset = sections ? layout.SectionHeaderOffset : layout.ProgramHeaderOffset;
        int entrySize = sections ? layout.SectionHeaderEntrySize : layout.ProgramHeaderEntrySize;
        int count = sections ? layout.SectionHeaderCount : layout.ProgramHeaderCount;
        int minEntrySize = sections ? (layout.Is64 ? 64 : 40) : (layout.Is64 ? 56 : 32);
        if (tableOffset == 0 || count == 0 || entrySize < minEntrySize)
            return null;
        long tableBytes = (long)entrySize * count;
        if (tableBytes > MaxHeaderTableBytes || tableOffset > long.MaxValue / 2)
            return null;

        byte[] table = new byte[tableBytes];
        if (source.Read((long)tableOffset, table) != table.Length)
            return null;

        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> entry = table.AsSpan(i * entrySize, entrySize);
            NoteRegion region = sections ? layout.ReadSection(entry) : layout.ReadSegment(entry);
            if (region.Type != (sections ? ShtNote : PtNote) || region.Size == 0 || region.Size > MaxNoteAreaBytes)
                continue;
            if (region.Offset > long.MaxValue / 2)
                continue;

            byte[] notes = new byte[region.Size];
            if (source.Read((long)region.Offset, notes) != notes.Length)
                continue;
            // Notes are 4-byte aligned unless the segment says 8 (e.g. .note.gnu.property next to the build-id).
            byte[]? id = FindBuildIdNote(notes, region.Alignment == 8 ? 8 : 4);
            if (id is not null)
                return id;
        }
        return null;
    }

    /// <summary>Scans an Elf_Nhdr list {u32 namesz, descsz, type; name; desc} for the "GNU" build-id note.</summary>
    private static byte[]? FindBuildIdNote(ReadOnlySpan<byte> notes, int alignment)
    {
        int pos = 0;
        while (notes.Length - pos >= 12)
        {
            uint nameSize = BinaryPrimitives.ReadUInt32LittleEndian(notes[pos..]);
            uint descSize = BinaryPrimitives.ReadUInt32LittleEndian(notes[(pos + 4)..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(notes[(pos + 8)..]);
            long nameStart = pos + 12;
            long descStart = nameStart + Align(nameSize, alignment);
            long next = descStart + Align(descSize, alignment);
            if (descStart + descSize > notes.Length || next <= pos)
                return null;

            ReadOnlySpan<byte> name = notes.Slice((int)nameStart, (int)nameSize);
            if (type == NtGnuBuildId && name.SequenceEqual("GNU\0"u8) && descSize > 0)
                return notes.Slice((int)descStart, (int)descSize).ToArray();

            if (next > notes.Length)
                return null;
            pos = (int)next;
        }
        return null;
    }

    private static long Align(uint value, int alignment) => ((long)value + alignment - 1) & ~(long)(alignment - 1);

    private readonly record struct NoteRegion(uint Type, ulong Offset, ulong Size, ulong Alignment);

    /// <summary>The fields of the ELF header that locate the two header tables, for either class.</summary>
    private readonly record struct ElfLayout(
        bool Is64,
        ulong ProgramHeaderOffset, int ProgramHeaderEntrySize, int ProgramHeaderCount,
        ulong SectionHeaderOffset, int SectionHeaderEntrySize, int SectionHeaderCount)
    {
        public static ElfLayout Elf64(ReadOnlySpan<byte> h) => new(
            true,
            BinaryPrimitives.ReadUInt64LittleEndian(h[32..]),   // e_phoff
            BinaryPrimitives.ReadUInt16LittleEndian(h[54..]),   // e_phentsize
            BinaryPrimitives.ReadUInt16LittleEndian(h[56..]),   // e_phnum
            BinaryPrimitives.ReadUInt64LittleEndian(h[40..]),   // e_shoff
            BinaryPrimitives.ReadUInt16LittleEndian(h[58..]),   // e_shentsize
            BinaryPrimitives.ReadUInt16LittleEndian(h[60..]));  // e_shnum

        public static ElfLayout Elf32(ReadOnlySpan<byte> h) => new(
            false,
            BinaryPrimitives.ReadUInt32LittleEndian(h[28..]),   // e_phoff
            BinaryPrimitives.ReadUInt16LittleEndian(h[42..]),   // e_phentsize
            BinaryPrimitives.ReadUInt16LittleEndian(h[44..]),   // e_phnum
            BinaryPrimitives.ReadUInt32LittleEndian(h[32..]),   // e_shoff
            BinaryPrimitives.ReadUInt16LittleEndian(h[46..]),   // e_shentsize
            BinaryPrimitives.ReadUInt16LittleEndian(h[48..]));  // e_shnum

        /// <summary>Elf64_Phdr {type, flags, offset, vaddr, paddr, filesz, memsz, align} / Elf32_Phdr {type, offset, vaddr, paddr, filesz, memsz, flags, align}.</summary>
        public NoteRegion ReadSegment(ReadOnlySpan<byte> e) => Is64
            ? new(BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt64LittleEndian(e[8..]),
                  BinaryPrimitives.ReadUInt64LittleEndian(e[32..]), BinaryPrimitives.ReadUInt64LittleEndian(e[48..]))
            : new(BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]),
                  BinaryPrimitives.ReadUInt32LittleEndian(e[16..]), BinaryPrimitives.ReadUInt32LittleEndian(e[28..]));

        /// <summary>Elf64_Shdr {name, type, flags, addr, offset, size, link, info, addralign, entsize} / Elf32_Shdr (all u32).</summary>
        public NoteRegion ReadSection(ReadOnlySpan<byte> e) => Is64
            ? new(BinaryPrimitives.ReadUInt32LittleEndian(e[4..]), BinaryPrimitives.ReadUInt64LittleEndian(e[24..]),
                  BinaryPrimitives.ReadUInt64LittleEndian(e[32..]), BinaryPrimitives.ReadUInt64LittleEndian(e[48..]))
            : new(BinaryPrimitives.ReadUInt32LittleEndian(e[4..]), BinaryPrimitives.ReadUInt32LittleEndian(e[16..]),
                  BinaryPrimitives.ReadUInt32LittleEndian(e[20..]), BinaryPrimitives.ReadUInt32LittleEndian(e[32..]));
    }

    /// <summary>Where the ELF bytes come from: a file read piecewise (no need to load a 100 MB library) or memory.</summary>
    private interface IByteSource
    {
        /// <summary>Reads up to destination.Length bytes at offset; returns how many were available.</summary>
        int Read(long offset, scoped Span<byte> destination);
    }

    private readonly struct FileSource(SafeFileHandle handle, long length) : IByteSource
    {
        public int Read(long offset, scoped Span<byte> destination)
        {
            if (offset < 0 || offset >= length)
                return 0;
            int total = 0;
            while (total < destination.Length)
            {
                int n = RandomAccess.Read(handle, destination[total..], offset + total);
                if (n <= 0)
                    break;
                total += n;
            }
            return total;
        }
    }

    private readonly ref struct MemorySource(ReadOnlySpan<byte> bytes) : IByteSource
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;

        public int Read(long offset, scoped Span<byte> destination)
        {
            if (offset < 0 || offset >= _bytes.Length)
                return 0;
            int n = (int)Math.Min(destination.Length, _bytes.Length - offset);
            _bytes.Slice((int)offset, n).CopyTo(destination);
            return n;
        }
    }
}
