using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>A header feature's payload, raw (from the file's feature table, or a pipe-mode HEADER_FEATURE record).</summary>
public sealed record FeatureData(HeaderFeature Feature, long Offset, byte[] Payload);

/// <summary>Decoders for perf's feature payload primitives (tools/perf/util/header.c do_read_string & co).</summary>
public static class FeatureParsing
{
    /// <summary>perf_header_string: u32 len (NUL and padding included), then the bytes.</summary>
    public static bool TryReadString(ReadOnlySpan<byte> data, ref int offset, out string value)
    {
        value = "";
        if (data.Length - offset < 4) return false;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
        if (len > (uint)(data.Length - offset - 4)) return false;
        ReadOnlySpan<byte> s = data.Slice(offset + 4, (int)len);
        int nul = s.IndexOf((byte)0);
        value = Encoding.UTF8.GetString(nul >= 0 ? s[..nul] : s);
        offset += 4 + (int)len;
        return true;
    }

    /// <summary>A string list: u32 count, then strings.</summary>
    public static List<string>? TryReadStringList(ReadOnlySpan<byte> data, ref int offset)
    {
        if (data.Length - offset < 4) return null;
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
        offset += 4;
        var list = new List<string>();
        for (uint i = 0; i < n; i++)
        {
            if (!TryReadString(data, ref offset, out string s)) return null;
            list.Add(s);
        }
        return list;
    }

    /// <summary>EVENT_DESC: u32 nr, u32 attr_size, then per event {attr, u32 nr_ids, string name, u64 ids[nr_ids]}.</summary>
    public static List<(string Name, ulong[] Ids)>? TryReadEventDesc(ReadOnlySpan<byte> data)
    {
        if (data.Length < 8) return null;
        uint nr = BinaryPrimitives.ReadUInt32LittleEndian(data);
        uint attrSize = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
        int o = 8;
        var result = new List<(string, ulong[])>();
        for (uint i = 0; i < nr; i++)
        {
            if (attrSize > (uint)(data.Length - o) || data.Length - o - (int)attrSize < 4) return null;
            o += (int)attrSize;
            uint nrIds = BinaryPrimitives.ReadUInt32LittleEndian(data[o..]);
            o += 4;
            if (!TryReadString(data, ref o, out string name)) return null;
            if (nrIds > (uint)((data.Length - o) / 8)) return null;
            var ids = new ulong[nrIds];
            for (int k = 0; k < ids.Length; k++, o += 8) ids[k] = BinaryPrimitives.ReadUInt64LittleEndian(data[o..]);
            result.Add((name, ids));
        }
        return result;
    }
}
