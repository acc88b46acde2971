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
        Span<byte> headerBytes = stackalloc byte[ElfHeader.MaxSize];
        int read = source.Read(0, headerBytes);
        if (!ElfHeader.TryParse(headerBytes[..read], out ElfHeader header))
            return null;
        return FromNoteRegions(source, header, sections: false) ?? FromNoteRegions(source, header, sections: true);
    }

    /// <summary>Walks the program headers (PT_NOTE) or the section headers (SHT_NOTE) and searches each note area.</summary>
    private static byte[]? FromNoteRegions<TSource>(TSource source, ElfHeader header, bool sections)
        where TSource : IByteSource, allows ref struct
    {
        ulong tableOffset = sections ? header.SectionHeaderOffset : header.ProgramHeaderOffset;
        int entrySize = sections ? header.SectionHeaderEntrySize : header.ProgramHeaderEntrySize;
        int count = sections ? header.SectionHeaderCount : header.ProgramHeaderCount;
        int minEntrySize = sections ? header.MinSectionHeaderSize : header.MinProgramHeaderSize;
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
            (uint type, ulong offset, ulong size, ulong alignment) = sections ? NoteArea(header.ReadSection(entry)) : NoteArea(header.ReadSegment(entry));
            if (type != (sections ? ElfSection.Note : ElfSegment.Note) || size == 0 || size > MaxNoteAreaBytes)
                continue;
            if (offset > long.MaxValue / 2)
                continue;

            byte[] notes = new byte[size];
            if (source.Read((long)offset, notes) != notes.Length)
                continue;
            // Notes are 4-byte aligned unless the segment says 8 (e.g. .note.gnu.property next to the build-id).
            byte[]? id = FindBuildIdNote(notes, alignment == 8 ? 8 : 4);
            if (id is not null)
                return id;
        }
        return null;
    }

    private static (uint Type, ulong Offset, ulong Size, ulong Alignment) NoteArea(ElfSection s) => (s.Type, s.Offset, s.Size, s.Alignment);
    private static (uint Type, ulong Offset, ulong Size, ulong Alignment) NoteArea(ElfSegment p) => (p.Type, p.Offset, p.FileSize, p.Alignment);

    /// <summary>The first "GNU" build-id note with a descriptor in a note list, or null.</summary>
    private static byte[]? FindBuildIdNote(ReadOnlySpan<byte> notes, int alignment)
    {
        foreach (ElfNote note in new ElfNotes(notes, alignment))
            if (note.Type == ElfNote.GnuBuildId && note.Name.SequenceEqual("GNU\0"u8) && note.Descriptor.Length > 0)
                return note.Descriptor.ToArray();
        return null;
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
