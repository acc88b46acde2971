using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.Jit;

/// <summary>
/// Reads a jitdump (jit-PID.dump) record by record from a stream, with every length checked against the bytes that
/// are there: a damaged or cut-short file ends in a <see cref="JitDumpException"/> naming the offset, never a crash
/// or a read past the data. The byte order is the writer's, told by the magic. One buffer is reused for all records.
/// A file that a running process is still appending to may end inside a record: that is reported like any other
/// truncation, and the records before it stay usable.
/// </summary>
public sealed class JitDumpReader : IDisposable
{
    /// <summary>Larger records are taken as damage (the biggest real ones are a method's code: kilobytes).</summary>
    public const int MaxRecordSize = 64 << 20;
    private const int PrefixSize = 16;   // u32 id, u32 total_size, u64 timestamp

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly string _name;
    private byte[] _buffer = new byte[4096];
    private long _offset;
    private bool _closed;

    public JitDumpHeader Header { get; }
    /// <summary>The offset of the next record.</summary>
    public long Offset => _offset;

    private JitDumpReader(Stream stream, string name, bool ownsStream)
    {
        _stream = stream;
        _name = name;
        _ownsStream = ownsStream;
        Span<byte> h = stackalloc byte[JitDumpHeader.Size];
        int got = ReadFully(h);
        if (got < 4) throw Error($"{got} bytes: too short for a jitdump header (40 bytes, magic \"JiTD\")", 0);
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(h);
        bool swapped;
        if (magic == JitDumpHeader.Magic) swapped = false;
        else if (magic == BinaryPrimitives.ReverseEndianness(JitDumpHeader.Magic)) swapped = true;
        else throw Error($"not a jitdump: magic 0x{magic:x8} (expected 0x{JitDumpHeader.Magic:x8} \"JiTD\")", 0);
        if (got < JitDumpHeader.Size) throw Error($"the file header is cut short: {got} of {JitDumpHeader.Size} bytes", got);
        Swapped = swapped;
        uint version = U32(h, 4), headerSize = U32(h, 8);
        if (headerSize < JitDumpHeader.Size || headerSize > MaxRecordSize)
            throw Error($"header size {headerSize} is impossible (at least {JitDumpHeader.Size})", 8);
        Header = new JitDumpHeader(version, headerSize, U32(h, 12), (int)U32(h, 20), U64(h, 24), U64(h, 32), swapped);
        _offset = JitDumpHeader.Size;
        // A longer header (a newer writer) has fields we do not know: skip them.
        if (headerSize > JitDumpHeader.Size)
        {
            long skip = headerSize - JitDumpHeader.Size;
            EnsureBuffer((int)skip);
            int n = ReadFully(_buffer.AsSpan(0, (int)skip));
            if (n < skip) throw Error($"the file header is cut short: {JitDumpHeader.Size + n} of {headerSize} bytes", JitDumpHeader.Size + n);
            _offset = headerSize;
        }
    }

    private bool Swapped { get; }

    public static JitDumpReader Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        try { return new JitDumpReader(stream, path, ownsStream: true); }
        catch { stream.Dispose(); throw; }
    }

    /// <param name="name">What messages call the input (its path).</param>
    public static JitDumpReader Open(Stream stream, string name) => new(stream, name, ownsStream: false);

    /// <summary>The next record; false at the end of the file (or after JIT_CODE_CLOSE). Throws <see cref="JitDumpException"/> on damage.</summary>
    public bool TryRead(out JitRecord record)
    {
        record = null!;
        if (_closed) return false;
        long at = _offset;
        Span<byte> prefix = stackalloc byte[PrefixSize];
        int got = ReadFully(prefix);
        if (got == 0) return false;
        if (got < PrefixSize) throw Error($"a record header is cut short: the file ends {got} bytes into its 16", at);
        uint id = U32(prefix, 0), size = U32(prefix, 4);
        ulong timestamp = U64(prefix, 8);
        if (size < PrefixSize || size > MaxRecordSize)
            throw Error($"record {KindName(id)} claims {size} bytes (a record is at least 16 and at most {MaxRecordSize})", at);
        int bodySize = (int)size - PrefixSize;
        EnsureBuffer(bodySize);
        Span<byte> body = _buffer.AsSpan(0, bodySize);
        got = ReadFully(body);
        if (got < bodySize)
            throw Error($"record {KindName(id)} of {size} bytes is cut short: the file ends after {PrefixSize + got} of them", at);
        _offset = at + size;
        record = Parse(id, at, timestamp, body);
        if (record is JitCodeClose) _closed = true;
        return true;
    }

    /// <summary>All records to the end; on damage, <paramref name="error"/> says where and the records before it are returned.</summary>
    public List<JitRecord> ReadAll(out JitDumpException? error)
    {
        var list = new List<JitRecord>();
        error = null;
        try
        {
            while (TryRead(out JitRecord r)) list.Add(r);
        }
        catch (JitDumpException e) { error = e; }
        return list;
    }

    private JitRecord Parse(uint id, long at, ulong timestamp, ReadOnlySpan<byte> b)
    {
        switch ((JitRecordKind)id)
        {
            case JitRecordKind.CodeLoad:
            {
                // u32 pid, u32 tid, u64 vma, u64 code_addr, u64 code_size, u64 code_index, name\0, code bytes
                const int Fixed = 40;
                Need(b, Fixed, "JIT_CODE_LOAD", at);
                ulong codeSize = U64(b, 24);
                int nameLength = b[Fixed..].IndexOf((byte)0);
                if (nameLength < 0) throw Error("JIT_CODE_LOAD: the method name has no terminating NUL inside the record", at + PrefixSize + Fixed);
                int codeAt = Fixed + nameLength + 1;
                int following = b.Length - codeAt;
                // No bytes at all after the name: the writer left the code out (allowed); some but too few: damage.
                if (following > 0 && codeSize > (ulong)following)
                    throw Error($"JIT_CODE_LOAD: code_size {codeSize} but only {following} bytes follow the name", at + PrefixSize + 24);
                string name = Encoding.UTF8.GetString(b.Slice(Fixed, nameLength));
                byte[] code = following == 0 ? [] : b.Slice(codeAt, (int)codeSize).ToArray();
                return new JitCodeLoad(at, timestamp, (int)U32(b, 0), (int)U32(b, 4), U64(b, 8), U64(b, 16), U64(b, 32), name, code, codeSize);
            }
            case JitRecordKind.CodeMove:
                // u32 pid, u32 tid, u64 vma, u64 old_code_addr, u64 new_code_addr, u64 code_size, u64 code_index
                Need(b, 48, "JIT_CODE_MOVE", at);
                return new JitCodeMove(at, timestamp, (int)U32(b, 0), (int)U32(b, 4), U64(b, 8), U64(b, 16), U64(b, 24), U64(b, 32), U64(b, 40));
            case JitRecordKind.DebugInfo:
            {
                // u64 code_addr, u64 nr_entry, then per entry: u64 addr, i32 lineno, i32 discrim, name\0
                Need(b, 16, "JIT_CODE_DEBUG_INFO", at);
                ulong count = U64(b, 8);
                if (count > (ulong)(b.Length - 16) / 17)
                    throw Error($"JIT_CODE_DEBUG_INFO: {count} entries cannot fit in its {b.Length + PrefixSize} bytes", at + PrefixSize + 8);
                var entries = new List<JitDebugEntry>((int)count);
                int o = 16;
                for (ulong i = 0; i < count; i++)
                {
                    if (b.Length - o < 17) throw Error($"JIT_CODE_DEBUG_INFO: entry {i} is cut short", at + PrefixSize + o);
                    int nul = b[(o + 16)..].IndexOf((byte)0);
                    if (nul < 0) throw Error($"JIT_CODE_DEBUG_INFO: the file name of entry {i} has no terminating NUL", at + PrefixSize + o + 16);
                    entries.Add(new JitDebugEntry(U64(b, o), (int)U32(b, o + 8), (int)U32(b, o + 12), Encoding.UTF8.GetString(b.Slice(o + 16, nul))));
                    o += 16 + nul + 1;
                }
                return new JitDebugInfo(at, timestamp, U64(b, 0), entries);
            }
            case JitRecordKind.CodeClose:
                return new JitCodeClose(at, timestamp);
            default:
                return new JitOtherRecord(at, timestamp, id, (uint)(b.Length + PrefixSize));
        }
    }

    private void Need(ReadOnlySpan<byte> body, int bytes, string what, long at)
    {
        if (body.Length < bytes)
            throw Error($"{what} record of {body.Length + PrefixSize} bytes is too short for its {bytes + PrefixSize}-byte fixed part", at);
    }

    private static string KindName(uint id) => id switch
    {
        0 => "JIT_CODE_LOAD",
        1 => "JIT_CODE_MOVE",
        2 => "JIT_CODE_DEBUG_INFO",
        3 => "JIT_CODE_CLOSE",
        4 => "JIT_CODE_UNWINDING_INFO",
        _ => $"id {id}",
    };

    private JitDumpException Error(string message, long offset) => new($"{_name}: offset 0x{offset:x}: {message}", offset);

    private void EnsureBuffer(int size)
    {
        if (_buffer.Length < size) _buffer = new byte[Math.Max(size, _buffer.Length * 2)];
    }

    private int ReadFully(Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = _stream.Read(destination[done..]);
            if (n == 0) break;
            done += n;
        }
        return done;
    }

    private uint U32(ReadOnlySpan<byte> b, int o)
    {
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
        return Swapped ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    private ulong U64(ReadOnlySpan<byte> b, int o)
    {
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
        return Swapped ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    public void Dispose()
    {
        if (_ownsStream) _stream.Dispose();
    }
}
