using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>Serialises a <see cref="PerfEventAttr"/> at a chosen on-file size (the ABI's size protocol).</summary>
public static class AttrBytes
{
    /// <summary>
    /// The attr size to store in a file that perf 6.1 can read. perf rejects any attr whose <c>size</c> is
    /// larger than its own struct ("file uses a more recent and unsupported ABI"), and perf 6.1's struct is
    /// PERF_ATTR_SIZE_VER7 (128 bytes; config3 came in 6.3). So: 128, unless an attr uses config3, which only
    /// the 136-byte VER8 layout can carry (newer perf reads that; 6.1 cannot, but truncating would lie).
    /// </summary>
    public static int ChooseOnFileSize(IReadOnlyList<EventAttrEntry> attrs)
    {
        foreach (EventAttrEntry entry in attrs)
        {
            if (entry.Attr.Config3 != 0)
                return PerfEventAttr.SizeVer8;
        }
        return PerfEventAttr.SizeVer7;
    }

    /// <summary>Writes the first <paramref name="size"/> bytes of the attr, with its size field set to that size.</summary>
    public static void Write(in PerfEventAttr attr, int size, Span<byte> destination)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("perf.data is written in host byte order; only little-endian hosts are supported.");
        if (size < PerfEventAttr.SizeVer0 || size > PerfEventAttr.SizeVer8 || size % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "attr size must be a published PERF_ATTR_SIZE_VERn (64..136, multiple of 8)");
        ReadOnlySpan<byte> raw = MemoryMarshal.AsBytes(new ReadOnlySpan<PerfEventAttr>(in attr));
        raw[..size].CopyTo(destination);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)size);
    }
}
