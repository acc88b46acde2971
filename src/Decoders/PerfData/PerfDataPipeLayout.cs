using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Pipe mode (`perf record -o -`): nothing can seek back, so everything file mode keeps in its header and feature
/// section travels as records, in the order perf 6.1 sends them (perf_event__synthesize_for_pipe, checked against
/// `perf record -o - | perf report -D -i -`):
/// <code>
/// {u64 magic "PERFILE2"; u64 size = 16}
/// HEADER_ATTR (64)     one per event: the attr, then its ids
/// HEADER_FEATURE (80)  one per feature perf synthesizes, ascending bit order, then the HEADER_LAST_FEATURE mark
/// HEADER_TRACING_DATA (66)  only with tracepoints: {u32 size; u32 pad}, then size bytes of tracing data
/// HEADER_BUILD_ID (67) build-ids already known (none for a live recording)
/// ... the caller's records: AUXTRACE_INFO, TIME_CONV, synthesized MMAP/COMM, FINISHED_INIT, what the rings drained
/// HEADER_BUILD_ID (67) at the end, for the binaries samples hit
/// </code>
/// Features perf never sends in pipe mode are left out: TRACING_DATA and BUILD_ID (they have records of their own)
/// and the AUXTRACE index (file offsets). Our captured code goes in <see cref="CapturedCodeRecords"/>.
/// perf does not pad HEADER_FEATURE records to 8 bytes, and neither do we. perf 6.1 itself writes no build-ids
/// in pipe mode; its readers take HEADER_BUILD_ID records anywhere (perf inject -b puts them mid-stream).
/// </summary>
internal sealed class PerfDataPipeLayout : PerfDataLayout
{
    /// <summary>perf 6.1's HEADER_LAST_FEATURE: the feature id of the mark that ends the features.</summary>
    public const ulong LastFeatureMark = 32;

    private const int PipeHeaderSize = 16;
    private const int FeatureRecordPrefix = PerfEventHeader.ByteSize + 8;
    private const int TracingDataRecordSize = 16;

    private readonly Stream _output;
    private readonly long _dataOffset;
    private readonly HashSet<string> _buildIdsSent = new(StringComparer.Ordinal);

    /// <summary>
    /// Writes the pipe header, the attrs and the features known before the data. A failure to write them (the reader
    /// already gone) lands in <paramref name="error"/>: the recording then stops as for any write error.
    /// </summary>
    public PerfDataPipeLayout(Stream output, IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile, PerfDataFeatures headerFeatures, ref Exception? error)
    {
        if (!output.CanWrite)
            throw new ArgumentException("pipe mode needs a writable stream", nameof(output));
        _output = output;
        byte[] prologue = BuildPrologue(attrs, attrSizeOnFile, headerFeatures);
        _dataOffset = prologue.Length;
        try
        {
            _output.Write(prologue);
        }
        catch (IOException e)
        {
            error = e;
        }
    }

    public override long DataOffset => _dataOffset;

    /// <summary>Features skipped because their payload does not fit in a record (a record's size is a u16).</summary>
    public List<HeaderFeature> OversizedFeatures { get; } = [];

    public override void WriteRecords(ReadOnlySpan<byte> records, long dataSize) => _output.Write(records);

    /// <summary>Sends HEADER_BUILD_ID records for the build-ids not sent yet; the other features went out first.</summary>
    public override bool Finish(PerfDataFeatures features, long dataSize, bool dataFailed, ref Exception? error)
    {
        if (dataFailed) return false;   // the reader is gone or the output broke: nothing more can arrive
        try
        {
            byte[] trailer = BuildIdRecords(features.BuildIds);
            _output.Write(trailer);
            _output.Flush();
            TrailerBytes = trailer.Length;
            return true;
        }
        catch (IOException e)
        {
            error ??= e;
            return false;
        }
    }

    private byte[] BuildPrologue(IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile, PerfDataFeatures features)
    {
        using var m = new MemoryStream();
        Span<byte> word = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(word, PerfFileHeader.Magic);
        m.Write(word);
        BinaryPrimitives.WriteUInt64LittleEndian(word, PipeHeaderSize);
        m.Write(word);

        foreach (EventAttrEntry entry in attrs)
            m.Write(AttrRecord(entry, attrSizeOnFile));

        foreach (var (feature, payload) in FeatureEncoder.Encode(features, attrs, attrSizeOnFile))
        {
            if (feature is HeaderFeature.TracingData or HeaderFeature.BuildId or HeaderFeature.Auxtrace || (int)feature == CapturedCode.FeatureBit)
                continue;
            if (FeatureRecordPrefix + payload.Length > ushort.MaxValue)
            {
                OversizedFeatures.Add(feature);
                continue;
            }
            m.Write(FeatureRecord((ulong)feature, payload));
        }
        m.Write(FeatureRecord(LastFeatureMark, []));

        if (features.TracingData is { Length: > 0 } tracing)
        {
            // perf_event__synthesize_tracing_data: the record says the size rounded up to 8; the data follows it.
            int aligned = (tracing.Length + 7) & ~7;
            var record = new byte[TracingDataRecordSize];
            new PerfEventHeader(PerfRecordType.HeaderTracingData, 0, TracingDataRecordSize).Write(record);
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), (uint)aligned);
            m.Write(record);
            m.Write(tracing);
            m.Write(new byte[aligned - tracing.Length]);
        }

        m.Write(BuildIdRecords(features.BuildIds));
        m.Write(CapturedCodeRecords.Encode(features.CapturedCode));
        return m.ToArray();
    }

    /// <summary>perf_event__synthesize_attr: {header; attr (its size field says how long); u64 id[]}.</summary>
    private static byte[] AttrRecord(EventAttrEntry entry, int attrSizeOnFile)
    {
        int size = PerfEventHeader.ByteSize + attrSizeOnFile + 8 * entry.Ids.Length;
        if (size > ushort.MaxValue)
            throw new ArgumentException($"event {entry.Name} has {entry.Ids.Length} ids: too many for a pipe-mode HEADER_ATTR record (at most {(ushort.MaxValue - 8 - attrSizeOnFile) / 8})");
        var record = new byte[size];
        new PerfEventHeader(PerfRecordType.HeaderAttr, 0, (ushort)size).Write(record);
        AttrBytes.Write(entry.Attr, attrSizeOnFile, record.AsSpan(PerfEventHeader.ByteSize));
        for (int i = 0; i < entry.Ids.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(PerfEventHeader.ByteSize + attrSizeOnFile + 8 * i), entry.Ids[i]);
        return record;
    }

    /// <summary>perf_event__synthesize_features: {header; u64 feat_id; the feature's file-mode payload}.</summary>
    private static byte[] FeatureRecord(ulong feature, byte[] payload)
    {
        var record = new byte[FeatureRecordPrefix + payload.Length];
        new PerfEventHeader(PerfRecordType.HeaderFeature, 0, (ushort)record.Length).Write(record);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), feature);
        payload.CopyTo(record, FeatureRecordPrefix);
        return record;
    }

    /// <summary>
    /// The BUILD_ID feature payload is already a run of HEADER_BUILD_ID records (the same struct with type 67), so
    /// pipe mode sends it as is; each file is sent once.
    /// </summary>
    private byte[] BuildIdRecords(IReadOnlyList<BuildIdEntry> entries)
    {
        var fresh = entries.Where(e => _buildIdsSent.Add(e.Filename)).ToList();
        return fresh.Count == 0 ? [] : FeatureEncoder.EncodeBuildIds(fresh);
    }
}
