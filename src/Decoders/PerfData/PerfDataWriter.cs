using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using Microsoft.Win32.SafeHandles;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Writes a perf.data file in file mode (PERFILE2, little endian) that Linux perf reads:
/// <code>
/// header (104) | ids of attr 0, attr 1, ... | attrs section | data (records) | feature table | feature payloads
/// </code>
/// The header is written with data.size = 0 first (perf warns about such a file: a crashed recording) and
/// rewritten by <see cref="Finish"/>. Every write goes straight to the file (pwrite, no buffering) so that, if
/// the disk fills, <see cref="DataSize"/> is exactly the bytes of whole records that reached it; the file is
/// then still finished with a header perf accepts. The writer does not own the stream: dispose it afterwards.
/// Not thread-safe: one thread writes (see <see cref="BackgroundPerfDataWriter"/>).
/// </summary>
public sealed class PerfDataWriter
{
    private readonly FileStream _stream;
    private readonly SafeFileHandle _handle;
    private readonly FileSection _attrsSection;
    private readonly ulong _attrEntrySize;
    private bool _finished;

    /// <summary>Writes the placeholder header, the id arrays and the attrs, choosing the attr size with
    /// <see cref="AttrBytes.ChooseOnFileSize"/> so that perf 6.1 reads the file.</summary>
    public PerfDataWriter(FileStream stream, IReadOnlyList<EventAttrEntry> attrs)
        : this(stream, attrs, AttrBytes.ChooseOnFileSize(attrs))
    {
    }

    /// <summary>As above with an explicit on-file attr size (a PERF_ATTR_SIZE_VERn), e.g. 136 for perf &gt;= 6.3.</summary>
    public PerfDataWriter(FileStream stream, IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(attrs);
        if (!stream.CanSeek || !stream.CanWrite)
            throw new ArgumentException("perf.data file mode needs a seekable, writable file (pipe mode is a different format).", nameof(stream));
        if (attrs.Count == 0)
            throw new ArgumentException("A perf.data file needs at least one attr.", nameof(attrs));

        _stream = stream;
        stream.Flush();
        // All I/O below is positional on the handle: no FileStream buffer that could hold half a record
        // when the disk fills, and no shared file position to get wrong after a failed write.
        _handle = stream.SafeFileHandle;
        Attrs = attrs;
        AttrSizeOnFile = attrSizeOnFile;
        _attrEntrySize = (ulong)(attrSizeOnFile + FileSection.ByteSize);

        // Layout: ids right after the header (as perf record does), then the attrs pointing at them.
        long offset = PerfFileHeader.Size;
        var idSections = new FileSection[attrs.Count];
        for (int i = 0; i < attrs.Count; i++)
        {
            ulong[] ids = attrs[i].Ids ?? [];
            idSections[i] = new FileSection((ulong)offset, (ulong)ids.Length * 8);
            offset += ids.Length * 8L;
        }
        _attrsSection = new FileSection((ulong)offset, (ulong)attrs.Count * _attrEntrySize);
        offset += (long)_attrsSection.Size;
        DataOffset = AlignUp(offset, 8);

        var prologue = new byte[DataOffset];
        WriteHeader(prologue, dataSize: 0, default);
        int pos = PerfFileHeader.Size;
        foreach (EventAttrEntry entry in attrs)
        {
            foreach (ulong id in entry.Ids ?? [])
            {
                BinaryPrimitives.WriteUInt64LittleEndian(prologue.AsSpan(pos), id);
                pos += 8;
            }
        }
        for (int i = 0; i < attrs.Count; i++)
        {
            AttrBytes.Write(attrs[i].Attr, attrSizeOnFile, prologue.AsSpan(pos));
            idSections[i].Write(prologue.AsSpan(pos + attrSizeOnFile));
            pos += (int)_attrEntrySize;
        }
        RandomAccess.Write(_handle, prologue, 0);
        RandomAccess.SetLength(_handle, DataOffset);  // an overwritten older file must not leave stale bytes
    }

    public IReadOnlyList<EventAttrEntry> Attrs { get; }
    /// <summary>Bytes per attr in the attrs section and in EVENT_DESC (the attr's <c>size</c> field on file).</summary>
    public int AttrSizeOnFile { get; }
    /// <summary>File offset of the first record.</summary>
    public long DataOffset { get; }
    /// <summary>Bytes of records written so far: whole <see cref="WriteData"/> calls that fully reached the file.</summary>
    public long DataSize { get; private set; }
    /// <summary>Record bytes refused after a write error (the writer stops writing data at the first error).</summary>
    public long DroppedBytes { get; private set; }
    /// <summary>The first write error (typically ENOSPC), data or features; null while all is well.</summary>
    public Exception? WriteError { get; private set; }
    /// <summary>Whether <see cref="Finish"/> managed to write the feature sections.</summary>
    public bool FeaturesWritten { get; private set; }

    /// <summary>
    /// Creates (or truncates) a file for a recording with mode 0600, as perf does: traces can hold secrets
    /// (addresses, command lines, memory contents). The stream is unbuffered; this writer does its own batching.
    /// </summary>
    public static FileStream CreateFile(string path)
    {
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.ReadWrite,
            Share = FileShare.Read,
            BufferSize = 0,
            UnixCreateMode = OwnerOnly,
        });
        // UnixCreateMode applies only to a new file; an existing one keeps its mode unless we set it.
        File.SetUnixFileMode(stream.SafeFileHandle, OwnerOnly);
        return stream;
    }

    /// <summary>
    /// Appends whole records. After the first I/O error the bytes are counted in <see cref="DroppedBytes"/> and
    /// not written, so a full disk never ends the recording with an exception on the hot path.
    /// </summary>
    public void WriteData(ReadOnlySpan<byte> wholeRecords)
    {
        if (_finished)
            throw new InvalidOperationException("The perf.data file is already finished.");
        if (wholeRecords.IsEmpty)
            return;
        if (WriteError is not null)
        {
            DroppedBytes += wholeRecords.Length;
            return;
        }
        try
        {
            RandomAccess.Write(_handle, wholeRecords, DataOffset + DataSize);
            IndexAuxtrace(wholeRecords, DataOffset + DataSize);
            DataSize += wholeRecords.Length;
        }
        catch (IOException e)
        {
            // Part of this call may be on disk; it lies past DataSize, so perf never sees it, and the feature
            // table written by Finish overwrites it.
            WriteError = e;
            DroppedBytes += wholeRecords.Length;
        }
    }

    private readonly List<(ulong Offset, ulong Size)> _auxtraceIndex = [];

    /// <summary>
    /// Where each PERF_RECORD_AUXTRACE landed, for the AUXTRACE feature: with it perf queues every trace buffer
    /// before it reads the events, so a PT decoder meets each buffer in time order with the sideband around it
    /// (perf's auxtrace_index). Walks the chunk's record headers only; an AUXTRACE's payload follows its 48 bytes.
    /// </summary>
    private void IndexAuxtrace(ReadOnlySpan<byte> records, long fileOffset)
    {
        int pos = 0;
        while (pos + PerfEventHeader.ByteSize <= records.Length)
        {
            var header = PerfEventHeader.Read(records[pos..]);
            if (header.Size < PerfEventHeader.ByteSize) return;
            long next = pos + header.Size;
            if (header.Type == PerfRecordType.Auxtrace && header.Size >= 16 && pos + 16 <= records.Length)
            {
                _auxtraceIndex.Add(((ulong)(fileOffset + pos), header.Size));
                next += (long)BinaryPrimitives.ReadUInt64LittleEndian(records[(pos + 8)..]);
            }
            if (next > records.Length) return;
            pos = (int)next;
        }
    }

    /// <summary>
    /// Writes the feature table and payloads after the data, then rewrites the header with the final data size
    /// and the feature bitmap. If the features cannot be written (disk full) the header says "no features" and
    /// the file is still valid. Throws only if even the header cannot be rewritten.
    /// </summary>
    public void Finish(PerfDataFeatures features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (_finished)
            throw new InvalidOperationException("The perf.data file is already finished.");
        _finished = true;

        FeatureBitmap bitmap = default;
        long featureOffset = DataOffset + DataSize;
        try
        {
            var payloads = FeatureEncoder.Encode(features, Attrs, AttrSizeOnFile, _auxtraceIndex);
            byte[] block = BuildFeatureBlock(payloads, featureOffset);
            RandomAccess.Write(_handle, block, featureOffset);
            RandomAccess.SetLength(_handle, featureOffset + block.Length);
            foreach (var (feature, _) in payloads)
                bitmap.Set(feature);
            FeaturesWritten = true;
        }
        catch (IOException e)
        {
            WriteError ??= e;
            bitmap = default;
            TryTruncate(featureOffset);
        }

        var header = new byte[PerfFileHeader.Size];
        WriteHeader(header, (ulong)DataSize, bitmap);
        RandomAccess.Write(_handle, header, 0);  // overwrites existing bytes: needs no new disk blocks
        _stream.Flush();
    }

    /// <summary>The section table (one {offset, size} per feature, ascending bit order) followed by the payloads.</summary>
    private static byte[] BuildFeatureBlock(List<(HeaderFeature Feature, byte[] Payload)> payloads, long featureOffset)
    {
        int tableSize = payloads.Count * FileSection.ByteSize;
        int total = tableSize;
        foreach (var (_, payload) in payloads)
            total += payload.Length;

        var block = new byte[total];
        int payloadPos = tableSize;
        for (int i = 0; i < payloads.Count; i++)
        {
            byte[] payload = payloads[i].Payload;
            new FileSection((ulong)(featureOffset + payloadPos), (ulong)payload.Length).Write(block.AsSpan(i * FileSection.ByteSize));
            payload.CopyTo(block.AsSpan(payloadPos));
            payloadPos += payload.Length;
        }
        return block;
    }

    private void WriteHeader(Span<byte> destination, ulong dataSize, FeatureBitmap features)
    {
        var header = new PerfFileHeader
        {
            AttrSize = _attrEntrySize,
            Attrs = _attrsSection,
            Data = new FileSection((ulong)DataOffset, dataSize),
            Features = features,
        };
        header.Write(destination);
    }

    private void TryTruncate(long length)
    {
        try
        {
            RandomAccess.SetLength(_handle, length);
        }
        catch (IOException)
        {
            // Bytes past data.size with an empty feature bitmap are ignored by readers; nothing more to do.
        }
    }

    private static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
