using System.Buffers;
using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// Returns a file's records in time order the way perf does (ordered_events): records with a timestamp are queued;
/// at each FINISHED_ROUND everything older than the newest time seen before the previous round
/// is released in time order, since no later record can be older than that. Records without a time are passed
/// through at once, as perf does. Memory is bounded by what the recorder wrote in two rounds, not by the file.
/// Files without FINISHED_ROUND are released at the end (perf does the same).
/// </summary>
public sealed class TimeOrderedReader : IDisposable
{
    private readonly PerfDataReader _reader;
    private readonly PriorityQueue<Queued, (ulong Time, long Seq)> _queue = new();
    private ulong _maxTime;
    private ulong _flushLimit;
    private ulong _limitAtLastRound;
    private bool _eof;
    private long _seq;
    private byte[]? _current;

    public TimeOrderedReader(PerfDataReader reader) => _reader = reader;

    public PerfDataReader Inner => _reader;

    public bool TryRead(out PerfRecord record)
    {
        ReturnCurrent();
        while (true)
        {
            if (_queue.TryPeek(out Queued head, out var prio) && (_eof || prio.Time <= _flushLimit))
            {
                _queue.Dequeue();
                _current = head.Buffer;
                record = new PerfRecord
                {
                    Offset = head.Offset,
                    DecompressedOffset = head.InnerOffset,
                    Header = PerfEventHeader.Read(head.Buffer),
                    Bytes = head.Buffer.AsSpan(0, head.Length),
                    Attr = head.Attr,
                    AuxPayloadOffset = head.AuxOffset,
                    AuxPayloadSize = head.AuxSize,
                };
                return true;
            }
            if (_eof) { record = default; return false; }
            if (!_reader.TryRead(out PerfRecord r)) { _eof = true; continue; }
            // FINISHED_INIT flushes nothing in perf 6.1 (its tool callback is a stub), so only rounds count.
            if (r.Type == PerfRecordType.FinishedRound)
            {
                // perf: flush up to the max time seen at the previous round marker.
                _flushLimit = _limitAtLastRound;
                _limitAtLastRound = _maxTime;
                record = r;
                return true;
            }
            ulong time = TimeOf(r);
            if (time == 0 || r.Type == PerfRecordType.Auxtrace)
            {
                record = r;
                return true;
            }
            if (time > _maxTime) _maxTime = time;
            byte[] copy = ArrayPool<byte>.Shared.Rent(r.Bytes.Length);
            r.Bytes.CopyTo(copy);
            _queue.Enqueue(new Queued(copy, r.Bytes.Length, r.Offset, r.DecompressedOffset, r.Attr, r.AuxPayloadOffset, r.AuxPayloadSize), (time, _seq++));
        }
    }

    private void ReturnCurrent()
    {
        if (_current is not null) { ArrayPool<byte>.Shared.Return(_current); _current = null; }
    }

    /// <summary>The record's time: the sample's TIME, or the sample_id_all trailer's; 0 when it has none.</summary>
    public static ulong TimeOf(in PerfRecord r)
    {
        if (r.Attr is not { } attr || (attr.SampleType & SampleType.Time) == 0) return 0;
        if (r.Type == PerfRecordType.Sample)
        {
            int o = PerfEventHeader.ByteSize;
            if ((attr.SampleType & SampleType.Identifier) != 0) o += 8;
            if ((attr.SampleType & SampleType.Ip) != 0) o += 8;
            if ((attr.SampleType & SampleType.Tid) != 0) o += 8;
            return r.Bytes.Length >= o + 8 ? BinaryPrimitives.ReadUInt64LittleEndian(r.Bytes[o..]) : 0;
        }
        return SampleIdReader.TryRead(r.Type, r.Bytes, attr, out var t, out _) ? t.Time : 0;
    }

    public void Dispose()
    {
        ReturnCurrent();
        while (_queue.TryDequeue(out Queued q, out _)) ArrayPool<byte>.Shared.Return(q.Buffer);
    }

    private readonly record struct Queued(byte[] Buffer, int Length, long Offset, long InnerOffset, EventAttrInfo? Attr, long AuxOffset, long AuxSize);
}
