using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Code that no file on disk holds (the vDSO, anonymous executable memory such as JIT code), captured by
/// `record --soft-pt` from the traced process so the trace can be decoded later, elsewhere. Kept in the perf.data
/// as a header feature of our own at bit <see cref="FeatureBit"/>: perf reads feature bits only up to its last known
/// one and ignores the rest, so the file stays an ordinary perf.data to it.
/// Layout: u32 version (1), u32 count, then per region: u32 pid, u32 reserved, u64 address, u64 perf time it was
/// captured, u32 name length, name bytes padded to 8, u64 size, the bytes padded to 8.
/// </summary>
public sealed record CapturedCode(int Pid, ulong Address, ulong Time, string Name, byte[] Bytes)
{
    public const int FeatureBit = 200;
    private const uint Version = 1;

    public static byte[] Encode(IReadOnlyList<CapturedCode> regions)
    {
        using var m = new MemoryStream();
        var word = new byte[8];
        void U32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(word, v); m.Write(word, 0, 4); }
        void U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(word, v); m.Write(word); }
        void Pad() { while (m.Length % 8 != 0) m.WriteByte(0); }
        U32(Version);
        U32((uint)regions.Count);
        foreach (CapturedCode r in regions)
        {
            U32((uint)r.Pid); U32(0); U64(r.Address); U64(r.Time);
            byte[] name = Encoding.UTF8.GetBytes(r.Name);
            U32((uint)name.Length); m.Write(name); Pad();
            U64((ulong)r.Bytes.Length); m.Write(r.Bytes); Pad();
        }
        return m.ToArray();
    }

    /// <summary>The regions of a feature payload; null with <paramref name="error"/> (naming the offset) when damaged.</summary>
    public static List<CapturedCode>? TryDecode(ReadOnlySpan<byte> payload, out string? error)
    {
        error = null;
        var list = new List<CapturedCode>();
        int o = 0;
        bool Need(int n, ReadOnlySpan<byte> p, string what, out string? e)
        {
            e = p.Length - o < n ? $"captured code: {what} truncated at payload offset {o}" : null;
            return e is null;
        }
        if (!Need(8, payload, "header", out error)) return null;
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(payload), count = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
        if (version != Version) { error = $"captured code: version {version} is not understood"; return null; }
        o = 8;
        for (uint i = 0; i < count; i++)
        {
            if (!Need(28, payload, "region header", out error)) return null;
            int pid = BinaryPrimitives.ReadInt32LittleEndian(payload[o..]);
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(payload[(o + 8)..]);
            ulong time = BinaryPrimitives.ReadUInt64LittleEndian(payload[(o + 16)..]);
            int nameLength = BinaryPrimitives.ReadInt32LittleEndian(payload[(o + 24)..]);
            o += 28;
            if (nameLength < 0 || !Need(nameLength, payload, "name", out error)) { error ??= $"captured code: bad name length at payload offset {o - 4}"; return null; }
            string name = Encoding.UTF8.GetString(payload.Slice(o, nameLength));
            o = (o + nameLength + 7) & ~7;
            if (!Need(8, payload, "size", out error)) return null;
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(payload[o..]);
            o += 8;
            if (size > int.MaxValue || !Need((int)size, payload, "bytes", out error)) { error ??= $"captured code: bad size at payload offset {o - 8}"; return null; }
            list.Add(new CapturedCode(pid, address, time, name, payload.Slice(o, (int)size).ToArray()));
            o = (int)Math.Min(payload.Length, (o + (long)size + 7) & ~7L);
        }
        return list;
    }
}
