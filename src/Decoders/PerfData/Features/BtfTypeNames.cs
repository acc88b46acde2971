using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>
/// Just enough of a BTF blob to name its types: header {u16 magic 0xeb9f, u8 version, u8 flags, u32 hdr_len,
/// u32 type_off, u32 type_len, u32 str_off, u32 str_len}, then types numbered from 1, each {u32 name_off, u32 info
/// (kind in bits 24-28, vlen in bits 0-15), u32 size_or_type} followed by kind-specific data (kernel
/// Documentation/bpf/btf.rst). A blob we cannot walk gives null, as libbpf's btf__new fails.
/// </summary>
public sealed class BtfTypeNames
{
    private readonly byte[] _blob;
    private readonly int _strings, _stringsLength;
    private readonly List<int> _typeOffsets;   // index i: type id i + 1

    private BtfTypeNames(byte[] blob, int strings, int stringsLength, List<int> typeOffsets)
    {
        _blob = blob;
        _strings = strings;
        _stringsLength = stringsLength;
        _typeOffsets = typeOffsets;
    }

    public static BtfTypeNames? Parse(byte[] blob)
    {
        ReadOnlySpan<byte> b = blob;
        if (b.Length < 24 || BinaryPrimitives.ReadUInt16LittleEndian(b) != 0xeb9f) return null;
        uint hdr = U32(b, 4), typeOff = U32(b, 8), typeLen = U32(b, 12), strOff = U32(b, 16), strLen = U32(b, 20);
        ulong typesStart = (ulong)hdr + typeOff, typesEnd = typesStart + typeLen, strStart = (ulong)hdr + strOff;
        if (typesEnd > (ulong)b.Length || strStart + strLen > (ulong)b.Length) return null;
        var offsets = new List<int>();
        for (ulong o = typesStart; o < typesEnd;)
        {
            if (o + 12 > typesEnd) return null;
            offsets.Add((int)o);
            uint info = U32(b, (int)o + 4);
            uint vlen = info & 0xffff;
            ulong extra = ((info >> 24) & 0x1f) switch
            {
                1 or 14 or 17 => 4UL,                                              // INT VAR DECL_TAG
                3 => 12UL,                                                         // ARRAY
                2 or 7 or 8 or 9 or 10 or 11 or 12 or 16 or 18 => 0,               // PTR FWD TYPEDEF VOLATILE CONST RESTRICT FUNC FLOAT TYPE_TAG
                4 or 5 or 15 or 19 => 12UL * vlen,                                 // STRUCT UNION DATASEC ENUM64
                6 or 13 => 8UL * vlen,                                             // ENUM FUNC_PROTO
                _ => ulong.MaxValue,
            };
            if (extra == ulong.MaxValue) return null;
            o += 12 + extra;
        }
        return new BtfTypeNames(blob, (int)strStart, (int)strLen, offsets);
    }

    /// <summary>The name of type <paramref name="id"/>, or null when there is no such type.</summary>
    public string? NameOf(uint id)
    {
        if (id == 0 || id > (uint)_typeOffsets.Count) return null;
        uint nameOff = U32(_blob, _typeOffsets[(int)id - 1]);
        if (nameOff >= (uint)_stringsLength) return null;
        return FeatureCursor.CString(_blob.AsSpan(_strings + (int)nameOff, _stringsLength - (int)nameOff));
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
}
