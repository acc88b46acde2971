using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.IntelPt.Live;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// Sees every record the perf.data writer writes (an <see cref="IRecordObserver"/> on its thread) and passes it on
/// to the live decoder as a perf.data pipe stream: first the pipe header and the attrs (HEADER_ATTR), then the
/// records. Sideband is gathered into pooled chunks that go out at each FINISHED_ROUND (the end of a drain pass) or
/// before trace; each AUXTRACE goes out as its own chunk, record and payload, and is dropped rather than waited for
/// when the decoder is behind (<see cref="LiveChunkChannel.TryPost"/>): the file writer, and so the drain, never
/// waits for decoding.
/// </summary>
internal sealed class LiveRecordTap : IRecordObserver
{
    private const int SidebandChunk = 64 << 10;
    private readonly LiveChunkChannel _channel;
    private byte[]? _pending;
    private int _length;

    public LiveRecordTap(LiveChunkChannel channel, IReadOnlyList<EventAttrEntry> attrs)
    {
        _channel = channel;
        int attrSize = AttrBytes.ChooseOnFileSize(attrs);
        int total = 16 + attrs.Sum(a => 8 + attrSize + 8 * (a.Ids?.Length ?? 0));
        byte[] prologue = LiveChunkChannel.Rent(total);
        Span<byte> span = prologue.AsSpan(0, total);
        BinaryPrimitives.WriteUInt64LittleEndian(span, PerfFileHeader.Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], 16);   // header size 16: pipe mode
        int at = 16;
        foreach (EventAttrEntry a in attrs)
        {
            ulong[] ids = a.Ids ?? [];
            int size = 8 + attrSize + 8 * ids.Length;
            new PerfEventHeader(PerfRecordType.HeaderAttr, 0, (ushort)size).Write(span[at..]);
            AttrBytes.Write(a.Attr, attrSize, span[(at + 8)..]);
            for (int i = 0; i < ids.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(span[(at + 8 + attrSize + 8 * i)..], ids[i]);
            at += size;
        }
        _channel.Post(prologue, total);
    }

    public long AuxtraceDropped { get; private set; }
    private readonly Dictionary<StreamKey, ulong> _ends = [];

    /// <summary>Where a stream's trace ended, counting chunks dropped on the way (read after <see cref="Complete"/>).</summary>
    public ulong? SentEnd(StreamKey lookup) => _ends.TryGetValue(lookup, out ulong end) ? end : null;

    public void OnRecord(in PerfEventHeader header, ReadOnlySpan<byte> record)
    {
        if (header.Type == PerfRecordType.Auxtrace && record.Length >= 16)
        {
            FlushSideband();
            // The observer is shown the record without its payload, but the payload follows it in the same chunk
            // (the writer's record walker checked that it is all there before showing the record).
            long payload = (long)BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
            if (record.Length >= 48)
            {
                StreamKey key = LiveTraceDecoder.StreamLookupKey(BinaryPrimitives.ReadUInt32LittleEndian(record[32..]),
                    BinaryPrimitives.ReadInt32LittleEndian(record[36..]), BinaryPrimitives.ReadInt32LittleEndian(record[40..]));
                ulong end = BinaryPrimitives.ReadUInt64LittleEndian(record[16..]) + (ulong)payload;
                ref ulong known = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_ends, key, out _);
                known = Math.Max(known, end);
            }
            int total = checked(record.Length + (int)payload);
            ReadOnlySpan<byte> whole = MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetReference(record), total);
            byte[] chunk = LiveChunkChannel.Rent(total);
            whole.CopyTo(chunk);
            if (!_channel.TryPost(chunk, total)) AuxtraceDropped++;
            return;
        }
        if (_pending is not null && _length + record.Length > _pending.Length) FlushSideband();
        _pending ??= LiveChunkChannel.Rent(Math.Max(SidebandChunk, record.Length));
        record.CopyTo(_pending.AsSpan(_length));
        _length += record.Length;
        if (header.Type == PerfRecordType.FinishedRound) FlushSideband();
    }

    private void FlushSideband()
    {
        if (_pending is null) return;
        _channel.Post(_pending, _length);
        _pending = null;
        _length = 0;
    }

    /// <summary>The writer has written its last record: the rest goes out and the stream ends.</summary>
    public void Complete()
    {
        FlushSideband();
        _channel.Complete();
    }
}
