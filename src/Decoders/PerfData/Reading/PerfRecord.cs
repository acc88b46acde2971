using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// One record as the reader returns it: a view over the reader's window, valid until the next call to
/// <see cref="PerfDataReader.TryRead"/>. Nothing is copied.
/// </summary>
public readonly ref struct PerfRecord
{
    /// <summary>File (or pipe stream) offset of the record; inside COMPRESSED data, the compressed record's offset.</summary>
    public long Offset { get; init; }
    /// <summary>Offset inside the decompressed stream, or -1 when the record was not compressed.</summary>
    public long DecompressedOffset { get; init; }
    public PerfEventHeader Header { get; init; }
    /// <summary>The whole record, header included.</summary>
    public ReadOnlySpan<byte> Bytes { get; init; }
    /// <summary>The event the record belongs to, when the file says (sample id, sample_id_all trailer, single attr).</summary>
    public EventAttrInfo? Attr { get; init; }
    /// <summary>For AUXTRACE: where its payload is in the file/stream, and how long. The payload is never copied.</summary>
    public long AuxPayloadOffset { get; init; }
    public long AuxPayloadSize { get; init; }

    public PerfRecordType Type => Header.Type;
    public ReadOnlySpan<byte> Body => Bytes[PerfEventHeader.ByteSize..];
    public bool IsKnownType => RecordTypeNames.IsKnown(Header.Type);
}
