using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// <c>struct perf_file_header</c> (tools/perf/util/header.h): the 104 bytes at the start of a perf.data file.
/// All fields little endian; the magic "PERFILE2" read as a u64 tells the byte order.
/// </summary>
public struct PerfFileHeader
{
    public const int Size = 104;
    /// <summary>"PERFILE2" as a little-endian u64.</summary>
    public const ulong Magic = 0x32454c4946524550;
    /// <summary>The adds_features bitmap is 256 bits (HEADER_FEAT_BITS).</summary>
    public const int FeatureBits = 256;

    /// <summary>Size of one attrs-section entry: attr bytes + a {offset, size} section for its ids.</summary>
    public ulong AttrSize;
    public FileSection Attrs;
    public FileSection Data;
    /// <summary>Obsolete event_types section; perf ignores it, we leave it empty.</summary>
    public FileSection EventTypes;
    public FeatureBitmap Features;

    public readonly void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Size);
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], AttrSize);
        Attrs.Write(destination[24..]);
        Data.Write(destination[40..]);
        EventTypes.Write(destination[56..]);
        Features.Write(destination[72..]);
    }
}

/// <summary><c>struct perf_file_section</c>: where a part of the file is, as {u64 offset, u64 size}.</summary>
public readonly record struct FileSection(ulong Offset, ulong Size)
{
    public const int ByteSize = 16;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Size);
    }
}

/// <summary>The 256-bit adds_features bitmap, stored as four little-endian u64 words.</summary>
public struct FeatureBitmap
{
    private ulong _w0, _w1, _w2, _w3;

    public void Set(HeaderFeature feature)
    {
        int bit = (int)feature;
        ulong mask = 1UL << (bit & 63);
        switch (bit >> 6)
        {
            case 0: _w0 |= mask; break;
            case 1: _w1 |= mask; break;
            case 2: _w2 |= mask; break;
            case 3: _w3 |= mask; break;
            default: throw new ArgumentOutOfRangeException(nameof(feature));
        }
    }

    public readonly bool IsSet(HeaderFeature feature)
    {
        int bit = (int)feature;
        ulong word = (bit >> 6) switch { 0 => _w0, 1 => _w1, 2 => _w2, 3 => _w3, _ => 0 };
        return (word >> (bit & 63) & 1) != 0;
    }

    public readonly bool IsEmpty => (_w0 | _w1 | _w2 | _w3) == 0;

    public readonly void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], _w2);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], _w3);
    }
}
