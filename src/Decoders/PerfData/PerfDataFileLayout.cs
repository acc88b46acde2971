using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using Microsoft.Win32.SafeHandles;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// File mode (PERFILE2, header size 104), seekable:
/// <code>
/// header (104) | ids of attr 0, attr 1, ... | attrs section | data (records) | feature table | feature payloads
/// </code>
/// The header is written with data.size = 0 first (perf warns about such a file: a crashed recording) and
/// rewritten by <see cref="Finish"/>. Every write is positional on the handle (pwrite, no buffering) so that, if the
/// disk fills, the data size is exactly the bytes of whole records that reached it, and no shared file position can
/// be left wrong by a failed write.
/// </summary>
internal sealed class PerfDataFileLayout : PerfDataLayout
{
    private readonly FileStream _stream;
    private readonly SafeFileHandle _handle;
    private readonly IReadOnlyList<EventAttrEntry> _attrs;
    private readonly int _attrSizeOnFile;
    private readonly FileSection _attrsSection;
    private readonly ulong _attrEntrySize;
    private readonly long _dataOffset;
    private readonly List<(ulong Offset, ulong Size)> _auxtraceIndex = [];

    /// <summary>Writes the placeholder header, the id arrays and the attrs.</summary>
    public PerfDataFileLayout(FileStream stream, IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile)
    {
        if (!stream.CanSeek || !stream.CanWrite)
            throw new ArgumentException("perf.data file mode needs a seekable, writable file (pipe mode is a different format).", nameof(stream));
        _stream = stream;
        stream.Flush();
        _handle = stream.SafeFileHandle;
        _attrs = attrs;
        _attrSizeOnFile = attrSizeOnFile;
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
        _dataOffset = (offset + 7) & ~7L;

        var prologue = new byte[_dataOffset];
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
        RandomAccess.SetLength(_handle, _dataOffset);  // an overwritten older file must not leave stale bytes
    }

    public override long DataOffset => _dataOffset;

    public override void WriteRecords(ReadOnlySpan<byte> records, long dataSize)
    {
        RandomAccess.Write(_handle, records, _dataOffset + dataSize);
        IndexAuxtrace(records, _dataOffset + dataSize);
    }

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
    /// Writes the feature table and payloads after the data, then rewrites the header with the final data size and
    /// the feature bitmap. If the features cannot be written (disk full) the header says "no features" and the file
    /// is still valid. Throws only if even the header cannot be rewritten.
    /// </summary>
    public override bool Finish(PerfDataFeatures features, long dataSize, bool dataFailed, ref Exception? error)
    {
        FeatureBitmap bitmap = default;
        long featureOffset = _dataOffset + dataSize;
        bool written = false;
        try
        {
            var payloads = FeatureEncoder.Encode(features, _attrs, _attrSizeOnFile, _auxtraceIndex);
            byte[] block = BuildFeatureBlock(payloads, featureOffset);
            RandomAccess.Write(_handle, block, featureOffset);
            RandomAccess.SetLength(_handle, featureOffset + block.Length);
            foreach (var (feature, _) in payloads)
                bitmap.Set(feature);
            TrailerBytes = block.Length;
            written = true;
        }
        catch (IOException e)
        {
            error ??= e;
            bitmap = default;
            TryTruncate(featureOffset);
        }

        var header = new byte[PerfFileHeader.Size];
        WriteHeader(header, (ulong)dataSize, bitmap);
        RandomAccess.Write(_handle, header, 0);  // overwrites existing bytes: needs no new disk blocks
        _stream.Flush();
        return written;
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
            Data = new FileSection((ulong)_dataOffset, dataSize),
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
}
