using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>
/// What a TRACING_DATA feature holds (trace-event-read.c's trace_report layout): "\x17\x08\x44tracing", a version
/// string, u8 big_endian, u8 sizeof(long), u32 page size, "header_page\0" u64 size + bytes, "header_event\0"
/// u64 size + bytes, u32 nr ftrace formats {u64 size, bytes}, u32 nr systems {"system\0", u32 nr {u64 size,
/// format text}}, u32 kallsyms size + bytes, u32 printk formats size + bytes, and from version 0.6 u64 saved
/// cmdlines size + bytes. Numbers are in the recording machine's byte order. We summarise; perf prints nothing.
/// </summary>
public sealed record TracingDataSummary(
    int Size, string Version, bool BigEndian, int LongSize, uint PageSize, int FtraceFormats,
    IReadOnlyList<string> Events, ulong KallsymsSize, ulong PrintkSize, ulong SavedCmdlinesSize)
{
    public const string OwnLinePrefix = "# tracing data";

    private static ReadOnlySpan<byte> Magic => [23, 8, 68, (byte)'t', (byte)'r', (byte)'a', (byte)'c', (byte)'i', (byte)'n', (byte)'g'];

    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out TracingDataSummary? value, out FeatureProblem problem)
    {
        value = null;
        var r = new Reader(payload);
        if (!r.Bytes(Magic.Length, out ReadOnlySpan<byte> magic)) return r.Fail(out problem);
        if (!magic.SequenceEqual(Magic)) { problem = new FeatureProblem(0, "no \"tracing\" magic"); return false; }
        if (!r.CString(out string version) || !r.Byte(out byte big) || !r.Byte(out byte longSize)) return r.Fail(out problem);
        r.BigEndian = big != 0;
        if (!r.U32(out uint pageSize)) return r.Fail(out problem);
        if (!r.Label("header_page") || !r.Blob64(out _) || !r.Label("header_event") || !r.Blob64(out _)) return r.Fail(out problem);
        if (!r.U32(out uint ftrace)) return r.Fail(out problem);
        for (uint i = 0; i < ftrace; i++)
            if (!r.Blob64(out _)) return r.Fail(out problem);
        var events = new List<string>();
        if (!r.U32(out uint systems)) return r.Fail(out problem);
        for (uint s = 0; s < systems; s++)
        {
            if (!r.CString(out string system) || !r.U32(out uint count)) return r.Fail(out problem);
            for (uint e = 0; e < count; e++)
            {
                if (!r.Blob64(out ReadOnlySpan<byte> format)) return r.Fail(out problem);
                events.Add($"{system}:{FormatName(format)}");
            }
        }
        if (!r.U32(out uint kallsyms) || !r.Bytes((int)Math.Min(kallsyms, int.MaxValue), out _)
            || !r.U32(out uint printk) || !r.Bytes((int)Math.Min(printk, int.MaxValue), out _)) return r.Fail(out problem);
        ulong cmdlines = 0;
        if (double.TryParse(version, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0.6)
        {
            if (!r.Blob64(out _)) return r.Fail(out problem);
            cmdlines = r.LastBlobSize;
        }
        problem = default;
        value = new TracingDataSummary(payload.Length, version, big != 0, longSize, pageSize, (int)ftrace, events, kallsyms, printk, cmdlines);
        return true;
    }

    /// <summary>The "name: X" line of a tracefs format file.</summary>
    private static string FormatName(ReadOnlySpan<byte> format)
    {
        string text = Encoding.UTF8.GetString(format[..Math.Min(format.Length, 512)]);
        foreach (string line in text.Split('\n'))
            if (line.StartsWith("name: ", StringComparison.Ordinal)) return line[6..].Trim();
        return "?";
    }

    public void Print(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"{OwnLinePrefix}: {Size} bytes, version {Version}, {(BigEndian ? "big" : "little")}-endian, long {LongSize}, page {PageSize}\n");
        sb.Append(inv, $"{OwnLinePrefix}: {FtraceFormats} ftrace formats, {Events.Count} events: {string.Join(' ', Events)}\n");
        sb.Append(inv, $"{OwnLinePrefix}: kallsyms {KallsymsSize} bytes, printk formats {PrintkSize} bytes, saved cmdlines {SavedCmdlinesSize} bytes\n");
    }

    /// <summary>Reads in the byte order the tracing data declares; failures stop at the current position.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;
        private string _why = FeatureProblem.Truncated;
        public bool BigEndian;
        public ulong LastBlobSize;

        public readonly bool Fail(out FeatureProblem problem)
        {
            problem = new FeatureProblem(_pos, _why);
            return false;
        }

        public bool Bytes(int n, out ReadOnlySpan<byte> bytes)
        {
            bytes = default;
            if (n < 0 || n > _data.Length - _pos) return false;
            bytes = _data.Slice(_pos, n);
            _pos += n;
            return true;
        }

        public bool Byte(out byte b)
        {
            b = 0;
            if (!Bytes(1, out ReadOnlySpan<byte> one)) return false;
            b = one[0];
            return true;
        }

        public bool U32(out uint v)
        {
            v = 0;
            if (!Bytes(4, out ReadOnlySpan<byte> b)) return false;
            v = BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
            return true;
        }

        public bool Blob64(out ReadOnlySpan<byte> bytes)
        {
            bytes = default;
            int start = _pos;
            if (!Bytes(8, out ReadOnlySpan<byte> b)) return false;
            ulong n = BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b);
            LastBlobSize = n;
            if (n > (ulong)(_data.Length - _pos)) { _pos = start; return false; }
            return Bytes((int)n, out bytes);
        }

        public bool CString(out string s)
        {
            s = "";
            int nul = _data[_pos..].IndexOf((byte)0);
            if (nul < 0) return false;
            s = Encoding.UTF8.GetString(_data.Slice(_pos, nul));
            _pos += nul + 1;
            return true;
        }

        public bool Label(string expected)
        {
            int start = _pos;
            if (!CString(out string s)) return false;
            if (s == expected) return true;
            _pos = start;
            _why = $"expected \"{expected}\"";
            return false;
        }
    }
}
