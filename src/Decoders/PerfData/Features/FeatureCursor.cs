using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>
/// Bounds-checked little-endian reads over one feature payload, in the primitives perf's header.c uses
/// (do_read_u32, do_read_u64, do_read_string). The first read that does not fit records a
/// <see cref="FeatureProblem"/> at the current position and every later read fails too, so a parser can give up
/// with one check and never index past the payload, whatever the counts in it say.
/// </summary>
public ref struct FeatureCursor
{
    private readonly ReadOnlySpan<byte> _data;

    public FeatureCursor(ReadOnlySpan<byte> data) => _data = data;

    public int Position { get; private set; }
    public readonly int Length => _data.Length;
    public readonly int Remaining => _data.Length - Position;
    public FeatureProblem? Problem { get; private set; }

    /// <summary>Records the first problem (at the current position) and returns false, for one-line bail-outs.</summary>
    public bool Fail(string reason)
    {
        Problem ??= new FeatureProblem(Position, reason);
        return false;
    }

    /// <summary>Records a problem with a value already read, at the position where that value starts.</summary>
    public bool FailAt(int position, string reason)
    {
        Problem ??= new FeatureProblem(position, reason);
        return false;
    }

    public bool U32(out uint value)
    {
        value = 0;
        if (Problem is not null || Remaining < 4) return Fail(FeatureProblem.Truncated);
        value = BinaryPrimitives.ReadUInt32LittleEndian(_data[Position..]);
        Position += 4;
        return true;
    }

    public bool I32(out int value)
    {
        bool ok = U32(out uint v);
        value = (int)v;
        return ok;
    }

    public bool U64(out ulong value)
    {
        value = 0;
        if (Problem is not null || Remaining < 8) return Fail(FeatureProblem.Truncated);
        value = BinaryPrimitives.ReadUInt64LittleEndian(_data[Position..]);
        Position += 8;
        return true;
    }

    public bool Bytes(ulong count, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (Problem is not null || count > (ulong)Remaining) return Fail(FeatureProblem.Truncated);
        bytes = _data.Slice(Position, (int)count);
        Position += (int)count;
        return true;
    }

    /// <summary>perf_header_string: u32 len (the NUL and padding to 64 included), then len bytes; the text ends at the first NUL.</summary>
    public bool String(out string value)
    {
        value = "";
        int start = Position;
        if (!U32(out uint len)) return false;
        if (!Bytes(len, out ReadOnlySpan<byte> raw))
        {
            Position = start;   // report the string where it starts: its length is what does not fit
            Problem = new FeatureProblem(start, FeatureProblem.Truncated);
            return false;
        }
        value = CString(raw);
        return true;
    }

    /// <summary>A string list: u32 count, then that many perf_header_strings.</summary>
    public bool StringList(out List<string> values)
    {
        values = [];
        if (!U32(out uint count)) return false;
        for (uint i = 0; i < count; i++)
        {
            if (!String(out string s)) return false;
            values.Add(s);
        }
        return true;
    }

    /// <summary>The bytes up to the first NUL, as text (perf prints them with %s).</summary>
    public static string CString(ReadOnlySpan<byte> raw)
    {
        int nul = raw.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? raw[..nul] : raw);
    }
}
