using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.Elf;

/// <summary>One note: its name (with the NUL, e.g. "GNU\0"), type and descriptor.</summary>
public readonly ref struct ElfNote(ReadOnlySpan<byte> name, uint type, ReadOnlySpan<byte> descriptor)
{
    public const uint GnuBuildId = 3;   // NT_GNU_BUILD_ID

    public ReadOnlySpan<byte> Name { get; } = name;
    public uint Type { get; } = type;
    public ReadOnlySpan<byte> Descriptor { get; } = descriptor;
}

/// <summary>
/// Walks an Elf_Nhdr note list {u32 namesz, descsz, type; name; desc}, name and desc each padded to the alignment
/// (4, or 8 when the segment says so). A note that runs past the end, or a list that is not notes, ends the walk.
/// Use with foreach: <c>foreach (ElfNote n in new ElfNotes(bytes, 4))</c>.
/// </summary>
public ref struct ElfNotes(ReadOnlySpan<byte> notes, int alignment)
{
    private readonly ReadOnlySpan<byte> _notes = notes;
    private int _next;

    public ElfNote Current { get; private set; }

    public readonly ElfNotes GetEnumerator() => this;

    public bool MoveNext()
    {
        int pos = _next;
        if (_notes.Length - pos < 12)
            return false;
        uint nameSize = BinaryPrimitives.ReadUInt32LittleEndian(_notes[pos..]);
        uint descSize = BinaryPrimitives.ReadUInt32LittleEndian(_notes[(pos + 4)..]);
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(_notes[(pos + 8)..]);
        long nameStart = pos + 12;
        long descStart = nameStart + Align(nameSize);
        long next = descStart + Align(descSize);
        if (descStart + descSize > _notes.Length || next <= pos)
        {
            _next = _notes.Length;
            return false;
        }
        Current = new ElfNote(_notes.Slice((int)nameStart, (int)nameSize), type, _notes.Slice((int)descStart, (int)descSize));
        // The last note's padding may be cut off: it is still read, and the walk ends after it.
        _next = next > _notes.Length ? _notes.Length : (int)next;
        return true;
    }

    private readonly long Align(uint value) => ((long)value + alignment - 1) & ~(long)(alignment - 1);
}
