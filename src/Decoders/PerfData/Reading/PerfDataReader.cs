using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// Streams the records of a perf.data file or pipe (`perf record -o -`, stdin) in file order, in bounded memory:
/// one window of the input and, for compressed files, one window of decompressed bytes. Damaged input never
/// throws: <see cref="TryRead"/> returns every record before the damage, then false with <see cref="Error"/> set.
/// </summary>
public sealed class PerfDataReader : IDisposable
{
    /// <summary>Features larger than this are indexed but not loaded (TRACING_DATA can be megabytes).</summary>
    private const int MaxFeatureBytes = 16 << 20;
    private const int AuxtraceRecordSize = 48;

    private readonly Stream _stream;
    private readonly ByteWindow _window;
    private ZstdRecordStream? _zstd;
    private long _zstdSourceOffset;
    private long _pendingSkip;
    private bool _done;
    /// <summary>File mode: where the header says the data ends, when the file is shorter than that.</summary>
    private long _truncatedDataEnd = -1;
    private readonly long[] _counts = new long[256];
    private readonly Dictionary<uint, long> _unknownCounts = [];
    /// <summary>The file was written on a machine of the other byte order: every structure is swapped as it is read.</summary>
    private bool _swap;
    /// <summary>Where swapped records are built (a record must not be changed in the input window).</summary>
    private byte[] _swapBuffer = [];

    public bool IsPipe { get; }
    public string Source { get; }
    public AttrTable Attrs { get; } = new();
    /// <summary>Header features: from the feature table (file mode) or HEADER_FEATURE records seen so far (pipe).</summary>
    public List<FeatureData> Features { get; } = [];
    /// <summary>File mode: the header's attr_size (stride of the attrs section). 0 in pipe mode.</summary>
    public ulong AttrEntrySize { get; private set; }
    public FileSection DataSection { get; private set; }
    public ReadError? Error { get; private set; }
    /// <summary>Damage that does not stop the records: a feature table or section cut off or out of range.</summary>
    public List<ReadError> Warnings { get; } = [];
    /// <summary>Records of types this reader does not know, by type; they are returned raw, never fatal.</summary>
    public IReadOnlyDictionary<uint, long> UnknownTypeCounts => _unknownCounts;
    /// <summary>True for a file written in the other byte order (big-endian here); records are returned converted.</summary>
    public bool IsForeignByteOrder => _swap;

    private PerfDataReader(Stream stream, string source, bool isPipe, long dataStart, long dataEnd)
    {
        _stream = stream;
        Source = source;
        IsPipe = isPipe;
        _window = new ByteWindow(stream, dataStart, dataEnd);
    }

    /// <summary>Records read so far of a given type (COMPRESSED and the records inside it both count, as in perf).</summary>
    public long Count(PerfRecordType type) => (uint)type < 256 ? _counts[(uint)type] : _unknownCounts.GetValueOrDefault((uint)type);

    /// <summary>Every type seen, with its count.</summary>
    public IEnumerable<(PerfRecordType Type, long Count)> Counts()
    {
        for (int i = 0; i < _counts.Length; i++) if (_counts[i] > 0) yield return ((PerfRecordType)i, _counts[i]);
        foreach (var kv in _unknownCounts) if (kv.Key >= 256) yield return ((PerfRecordType)kv.Key, kv.Value);
    }

    /// <summary>Opens a file, or standard input for "-". Header problems are reported in <see cref="Error"/>.</summary>
    public static PerfDataReader Open(string path)
    {
        Stream s = path == "-" ? Console.OpenStandardInput(1 << 16)
            : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        return Open(s, path);
    }

    /// <summary>Opens a stream; seekable streams may be in file or pipe mode, others must be pipe mode.</summary>
    public static PerfDataReader Open(Stream stream, string source)
    {
        Span<byte> head = stackalloc byte[PerfFileHeader.Size];
        int got = ReadFully(stream, head[..16]);
        if (got < 16)
            return Failed(stream, source, new ReadError(got, $"not a perf.data file: only {got} bytes"));
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(head);
        // A byte-swapped magic is a file from a machine of the other byte order (perf's needs_swap).
        bool swap = magic != PerfFileHeader.Magic && BinaryPrimitives.ReverseEndianness(magic) == PerfFileHeader.Magic;
        if (swap) ForeignByteOrder.FileHeader(head[..16]);
        ulong headerSize = BinaryPrimitives.ReadUInt64LittleEndian(head[8..]);
        if (!swap && magic != PerfFileHeader.Magic)
        {
            string why = magic == 0x454c4946_46524550 ? "PERFFILE (version 1) files are not supported" : "not a perf.data file (bad magic)";
            return Failed(stream, source, new ReadError(0, why));
        }
        if (headerSize == 16)
            return new PerfDataReader(stream, source, true, 16, long.MaxValue) { _swap = swap };
        if (!stream.CanSeek)
            return Failed(stream, source, new ReadError(8, "a file-mode perf.data cannot be read from a pipe (record with -o - for pipes)"));
        if (headerSize < 72 + 8 || headerSize > PerfFileHeader.Size)
            return Failed(stream, source, new ReadError(8, $"unexpected header size {headerSize}"));
        got += ReadFully(stream, head[16..(int)headerSize]);
        if (got < (int)headerSize)
            return Failed(stream, source, new ReadError(got, "truncated file header"));
        if (swap) ForeignByteOrder.FileHeader(head[16..(int)headerSize]);
        return OpenFile(stream, source, head[..(int)headerSize], swap);
    }

    private static PerfDataReader OpenFile(Stream stream, string source, ReadOnlySpan<byte> head, bool swap)
    {
        ulong attrSize = U64(head, 16);
        var attrs = new FileSection(U64(head, 24), U64(head, 32));
        var data = new FileSection(U64(head, 40), U64(head, 48));
        long length = stream.Length;
        // Old perf left data.size 0 when it was killed; the records then run to the end of the file.
        ulong dataEnd = data.Size == 0 ? (ulong)length : data.Offset + data.Size;
        var reader = new PerfDataReader(stream, source, false, (long)data.Offset, (long)Math.Min(dataEnd, (ulong)length))
        {
            AttrEntrySize = attrSize,
            DataSection = data,
            _swap = swap,
        };
        if (data.Offset > (ulong)length)
        {
            reader.Fail(40, $"data section at 0x{data.Offset:x} is past the end of the file (0x{length:x})");
            return reader;
        }
        if (dataEnd > (ulong)length)
            reader._truncatedDataEnd = (long)dataEnd;
        string? attrError = reader.ReadAttrSection(attrs, attrSize, length);
        if (attrError is not null) { reader.Fail((long)attrs.Offset, attrError); return reader; }
        if (head.Length >= 104 && data.Size != 0) reader.ReadFeatureTable(head[72..104], (long)dataEnd, length);
        reader.ApplyEventDesc();
        stream.Position = (long)data.Offset;
        return reader;
    }

    private string? ReadAttrSection(FileSection attrs, ulong attrSize, long length)
    {
        if (attrs.Size == 0) return null;
        if (attrSize < 16 + PerfEventAttr.SizeVer0 || attrSize > 4096)
            return $"attr_size {attrSize} is not a perf_event_attr plus its ids section";
        if (attrs.Offset + attrs.Size > (ulong)length) return "attrs section runs past the end of the file";
        if (attrs.Size / attrSize > 4096) return "more than 4096 attrs";
        byte[] section = ReadAt((long)attrs.Offset, (int)attrs.Size);
        for (int o = 0; o + (int)attrSize <= section.Length; o += (int)attrSize)
        {
            Span<byte> entry = section.AsSpan(o, (int)attrSize);
            if (_swap) { ForeignByteOrder.Attr(entry[..^16]); ForeignByteOrder.U64s(entry[^16..]); }
            ReadOnlySpan<byte> attr = entry[..^16];
            ulong idOff = U64(entry, entry.Length - 16), idSize = U64(entry, entry.Length - 8);
            ulong[] ids = [];
            if (idSize > 0 && idOff + idSize <= (ulong)length && idSize / 8 <= 1 << 20)
            {
                byte[] raw = ReadAt((long)idOff, (int)idSize);
                if (_swap) ForeignByteOrder.U64s(raw);
                ids = new ulong[raw.Length / 8];
                for (int i = 0; i < ids.Length; i++) ids[i] = U64(raw, i * 8);
            }
            Attrs.Add(attr, ids);
        }
        return null;
    }

    private void ReadFeatureTable(ReadOnlySpan<byte> bitmap, long tableOffset, long length)
    {
        var set = new List<int>();
        for (int bit = 0; bit < 256; bit++)
            if ((bitmap[bit >> 3] >> (bit & 7) & 1) != 0) set.Add(bit);
        if (set.Count == 0) return;
        if (tableOffset + 16L * set.Count > length)
        {
            Warnings.Add(new ReadError(tableOffset, $"the table of {set.Count} header features runs past the end of the file (0x{length:x})"));
            return;
        }
        byte[] table = ReadAt(tableOffset, 16 * set.Count);
        if (_swap) ForeignByteOrder.U64s(table);
        for (int i = 0; i < set.Count; i++)
        {
            ulong off = U64(table, 16 * i), size = U64(table, 16 * i + 8);
            if (off + size > (ulong)length || off + size < off)
            {
                Warnings.Add(new ReadError(tableOffset + 16 * i, $"header feature {set[i]} ({(HeaderFeature)set[i]}) at 0x{off:x}, {size} bytes, runs past the end of the file (0x{length:x})"));
                continue;
            }
            byte[] payload = size <= MaxFeatureBytes ? ReadAt((long)off, (int)size) : [];
            if (_swap && !ForeignFeatures.TrySwap((HeaderFeature)set[i], payload))
            {
                Warnings.Add(new ReadError((long)off, $"header feature {set[i]} ({(HeaderFeature)set[i]}) left out: its layout is not converted from the file's foreign byte order"));
                continue;
            }
            Features.Add(new FeatureData((HeaderFeature)set[i], (long)off, payload));
        }
    }

    private void ApplyEventDesc()
    {
        foreach (FeatureData f in Features)
        {
            if (f.Feature != HeaderFeature.EventDesc) continue;
            var desc = FeatureParsing.TryReadEventDesc(f.Payload);
            if (desc is null) continue;
            for (int i = 0; i < desc.Count && i < Attrs.Attrs.Count; i++)
            {
                EventAttrInfo a = Attrs.Attrs[i];
                // Match by id when possible (pipe-mode order can differ), else by position.
                EventAttrInfo target = desc[i].Ids.Length > 0 && Attrs.FindById(desc[i].Ids[0]) is { } byId ? byId : a;
                target.Name = desc[i].Name;
            }
        }
    }

    /// <summary>Reads the next record. False at the end of the data, or at damage (then <see cref="Error"/> is set).</summary>
    public bool TryRead(out PerfRecord record)
    {
        record = default;
        if (_done) return false;
        try
        {
            return ReadNext(out record);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Fail(_window.Position, $"{e.GetType().Name}: {e.Message}");
            return false;
        }
    }

    private bool ReadNext(out PerfRecord record)
    {
        record = default;
        if (_pendingSkip > 0)
        {
            long start = _window.Position;
            if (!_window.Skip(_pendingSkip))
                return Fail(start, $"the {_pendingSkip} bytes that follow the previous record (AUXTRACE or TRACING_DATA payload) run past the end of the data");
            _pendingSkip = 0;
        }
        if (_zstd is { PendingCount: >= PerfEventHeader.ByteSize } z)
        {
            ReadOnlySpan<byte> p = z.Pending;
            var h = ReadHeader(p);
            if (h.Size < PerfEventHeader.ByteSize)
                return Fail(_zstdSourceOffset, $"record of size {h.Size} at decompressed offset 0x{z.PendingOffset:x}");
            if (h.Size <= p.Length)
            {
                ReadOnlySpan<byte> bytes = _swap ? Swapped(p[..h.Size]) : p[..h.Size];
                long skip = 0;
                if (h.Type == PerfRecordType.Auxtrace && h.Size >= 16)
                {
                    skip = (long)U64(bytes, 8);
                    if (skip > p.Length - h.Size) return Fail(_zstdSourceOffset, "AUXTRACE payload runs past compressed data");
                }
                record = Make(h, bytes, _zstdSourceOffset, z.PendingOffset, -1, skip);
                z.Consume(h.Size + (int)skip);
                return true;
            }
            // The rest of this record is in the next compressed chunk.
        }

        long offset = _window.Position;
        if (!_window.Ensure(PerfEventHeader.ByteSize))
        {
            if (_window.AvailableCount != 0)
                return Fail(offset, $"truncated record header ({_window.AvailableCount} of 8 bytes)");
            if (_zstd is { PendingCount: > 0 })
                return Fail(_zstdSourceOffset, $"{_zstd.PendingCount} bytes of an incomplete record at the end of the compressed data");
            if (_truncatedDataEnd >= 0)
                return Fail(offset, $"file ends before the data section does (at 0x{_truncatedDataEnd:x})");
            _done = true;
            // A pipe brings its build-ids as HEADER_BUILD_ID records; together they are the BUILD_ID feature's payload.
            if (_pipeBuildIds.Count > 0 && !Features.Exists(f => f.Feature == HeaderFeature.BuildId))
                Features.Add(new FeatureData(HeaderFeature.BuildId, _firstPipeBuildId, [.. _pipeBuildIds]));
            return false;
        }
        var header = ReadHeader(_window.Available);
        if (header.Size < PerfEventHeader.ByteSize)
            return Fail(offset, $"record of type {(uint)header.Type} has size {header.Size} (less than its 8-byte header)");
        if (!_window.Ensure(header.Size))
            return Fail(offset, $"truncated {RecordTypeNames.Long(header.Type)}: {header.Size} bytes declared, {_window.AvailableCount} present");
        ReadOnlySpan<byte> rec = _swap ? Swapped(_window.Available[..header.Size]) : _window.Available[..header.Size];
        long auxOffset = -1, auxSize = 0, trailingBytes = 0;
        switch (header.Type)
        {
            case PerfRecordType.Auxtrace:
                if (header.Size < 16) return Fail(offset, "AUXTRACE record too short for its size field");
                auxSize = (long)U64(rec, 8);
                if (auxSize < 0) return Fail(offset, "AUXTRACE payload size out of range");
                auxOffset = offset + header.Size;
                break;
            case PerfRecordType.Compressed:
            case PerfRecordType.Compressed2:
            {
                ReadOnlySpan<byte> data = rec[8..];
                if (header.Type == PerfRecordType.Compressed2)
                {
                    if (data.Length < 8) return Fail(offset, "COMPRESSED2 record too short");
                    ulong n = U64(data, 0);
                    if (n > (ulong)(data.Length - 8)) return Fail(offset, $"COMPRESSED2 data_size {n} exceeds the record");
                    data = data.Slice(8, (int)n);
                }
                _zstd ??= new ZstdRecordStream();
                _zstdSourceOffset = offset;
                if (_zstd.Append(data) is { } zerr) return Fail(offset, zerr);
                break;
            }
            case PerfRecordType.HeaderAttr:
                AddPipeAttr(rec);
                break;
            case PerfRecordType.IdIndex:
                AddIdIndex(rec);
                break;
            case PerfRecordType.HeaderFeature:
                if (rec.Length >= 16)
                {
                    byte[] payload = rec[16..].ToArray();
                    if (_swap && !ForeignFeatures.TrySwap((HeaderFeature)U64(rec, 8), payload))
                    {
                        Warnings.Add(new ReadError(offset, $"header feature {U64(rec, 8)} left out: its layout is not converted from the file's foreign byte order"));
                        break;
                    }
                    var f = new FeatureData((HeaderFeature)U64(rec, 8), offset, payload);
                    Features.Add(f);
                    if (f.Feature == HeaderFeature.EventDesc) ApplyEventDesc();
                }
                break;
            case PerfRecordType.EventUpdate:
                ApplyEventUpdate(rec);
                break;
            case PerfRecordType.HeaderTracingData:
                // Pipe mode: {u32 size; u32 pad}, then size bytes of tracing data follow the record (as with AUXTRACE).
                if (header.Size >= 16) trailingBytes = BinaryPrimitives.ReadUInt32LittleEndian(rec[8..]);
                break;
            case PerfRecordType.HeaderBuildId when IsPipe:
                if (_pipeBuildIds.Count == 0) _firstPipeBuildId = offset;
                _pipeBuildIds.AddRange(rec);
                break;
            case PerfRecordType.HeaderEventType:
                // Our captured code in pipe mode (CapturedCodeRecords); perf ignores the deprecated type.
                if (_capturedCode.TryAdd(rec) && _capturedCode.Payload is { } code)
                    Features.Add(new FeatureData((HeaderFeature)CapturedCode.FeatureBit, offset, code));
                break;
        }
        record = Make(header, rec, offset, -1, auxOffset, auxSize);
        _window.Consume(header.Size);
        _pendingSkip = auxSize + trailingBytes;
        return true;
    }

    private readonly CapturedCodeRecords.Assembler _capturedCode = new();
    private readonly List<byte> _pipeBuildIds = [];
    private long _firstPipeBuildId;

    /// <summary>
    /// Reads the AUX payload of the AUXTRACE record <see cref="TryRead"/> just returned (instead of skipping it), for
    /// readers of a pipe that cannot go back for it: up to <paramref name="destination"/>'s length, fewer when the
    /// input ends; what is not read is skipped by the next <see cref="TryRead"/>. The returned record's bytes are no
    /// longer valid afterwards.
    /// </summary>
    public int ReadAuxPayload(Span<byte> destination)
    {
        int total = 0;
        while (_pendingSkip > 0 && total < destination.Length && _window.Ensure(1))
        {
            int n = (int)Math.Min(Math.Min(_window.AvailableCount, _pendingSkip), destination.Length - total);
            _window.Available[..n].CopyTo(destination[total..]);
            _window.Consume(n);
            _pendingSkip -= n;
            total += n;
        }
        return total;
    }

    private PerfEventHeader ReadHeader(ReadOnlySpan<byte> bytes)
    {
        if (!_swap) return PerfEventHeader.Read(bytes);
        Span<byte> h = stackalloc byte[PerfEventHeader.ByteSize];
        bytes[..PerfEventHeader.ByteSize].CopyTo(h);
        ForeignByteOrder.Header(h);
        return PerfEventHeader.Read(h);
    }

    /// <summary>A copy of the record in this machine's byte order (valid until the next read, like the window).</summary>
    private ReadOnlySpan<byte> Swapped(ReadOnlySpan<byte> record)
    {
        if (_swapBuffer.Length < record.Length) _swapBuffer = new byte[Math.Max(record.Length, 2 * _swapBuffer.Length)];
        Span<byte> copy = _swapBuffer.AsSpan(0, record.Length);
        record.CopyTo(copy);
        ForeignByteOrder.Header(copy);
        ForeignByteOrder.Record(copy, Attrs);
        return copy;
    }

    private PerfRecord Make(PerfEventHeader h, ReadOnlySpan<byte> bytes, long offset, long innerOffset, long auxOffset, long auxSize)
    {
        uint t = (uint)h.Type;
        if (t < 256) _counts[t]++;
        if (!RecordTypeNames.IsKnown(h.Type)) _unknownCounts[t] = _unknownCounts.GetValueOrDefault(t) + 1;
        return new PerfRecord
        {
            Offset = offset,
            DecompressedOffset = innerOffset,
            Header = h,
            Bytes = bytes,
            Attr = Attrs.Resolve(h.Type, bytes),
            AuxPayloadOffset = auxOffset,
            AuxPayloadSize = auxSize,
        };
    }

    private void AddPipeAttr(ReadOnlySpan<byte> rec)
    {
        ReadOnlySpan<byte> body = rec[8..];
        if (body.Length < PerfEventAttr.SizeVer0) return;
        uint declared = BinaryPrimitives.ReadUInt32LittleEndian(body[4..]);
        int attrLen = declared == 0 ? PerfEventAttr.SizeVer0 : (int)Math.Min(declared, (uint)body.Length);
        ReadOnlySpan<byte> idBytes = body[attrLen..];
        var ids = new ulong[idBytes.Length / 8];
        for (int i = 0; i < ids.Length; i++) ids[i] = U64(idBytes, i * 8);
        Attrs.Add(body[..attrLen], ids);
    }

    private void AddIdIndex(ReadOnlySpan<byte> rec)
    {
        // Entries are {id, idx, cpu, tid}: idx is the position in the event's cpu/thread map, not an attr index.
        // perf looks each id up among the ids the attrs already listed (evlist__id2sid) and only learns where it was
        // opened; an id no attr lists is an error there. So ID_INDEX never moves an id to another event here either.
        if (rec.Length < 16) return;
        ulong nr = U64(rec, 8);
        if (nr > (ulong)((rec.Length - 16) / 32)) nr = (ulong)((rec.Length - 16) / 32);
        for (int i = 0; i < (int)nr; i++)
            if (Attrs.FindById(U64(rec, 16 + 32 * i)) is null) UnknownIndexIds++;
    }

    /// <summary>Ids in ID_INDEX records that no attr lists (perf rejects such files; we read on).</summary>
    public int UnknownIndexIds { get; private set; }

    private void ApplyEventUpdate(ReadOnlySpan<byte> rec)
    {
        // {u64 type; u64 id; payload}; type 2 = NAME, a NUL-terminated string.
        if (rec.Length < 24 || U64(rec, 8) != 2) return;
        if (Attrs.FindById(U64(rec, 16)) is not { } attr) return;
        ReadOnlySpan<byte> s = rec[24..];
        int nul = s.IndexOf((byte)0);
        attr.Name = System.Text.Encoding.UTF8.GetString(nul >= 0 ? s[..nul] : s);
    }

    private bool Fail(long offset, string message)
    {
        Error ??= new ReadError(offset, message);
        _done = true;
        return false;
    }

    private static PerfDataReader Failed(Stream stream, string source, ReadError error)
    {
        var r = new PerfDataReader(stream, source, false, 0, 0);
        r.Fail(error.Offset, error.Message);
        return r;
    }

    private byte[] ReadAt(long offset, int size)
    {
        var buffer = new byte[size];
        _stream.Position = offset;
        ReadFully(_stream, buffer);
        return buffer;
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);

    public void Dispose()
    {
        _window.Dispose();
        _zstd?.Dispose();
        _stream.Dispose();
    }
}
