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
/// <remarks>
/// Queued records are copied into large pooled blocks (an arena) rather than one rented array each, and a round is
/// ordered with one sort instead of a heap operation per record: both were a fifth of `script`'s time.
/// </remarks>
public sealed class TimeOrderedReader : IDisposable
{
    private const int BlockSize = 4 << 20;

    private readonly PerfDataReader _reader;
    private Entry[] _pending = new Entry[1024];
    private int _pendingCount;
    /// <summary>Entries [0, _readyCount) of the sorted pending array may be returned; _next is the next one.</summary>
    private int _readyCount, _next;
    private readonly List<Block> _blocks = [];
    private ulong _maxTime;
    private ulong _limitAtLastRound;
    private bool _eof;
    private long _seq;
    /// <summary>The block of the record returned by the last call, released at the next call; -1 for none.</summary>
    private int _returnedBlock = -1;

    public TimeOrderedReader(PerfDataReader reader) => _reader = reader;

    public PerfDataReader Inner => _reader;

    public bool TryRead(out PerfRecord record)
    {
        // The record returned last time is no longer in use: release its bytes, and drop a finished ready batch.
        if (_returnedBlock >= 0) { Release(_returnedBlock); _returnedBlock = -1; }
        if (_readyCount > 0 && _next == _readyCount) RemoveReady();
        while (true)
        {
            if (_next < _readyCount)
            {
                Entry e = _pending[_next++];
                _returnedBlock = e.Block;
                var bytes = _blocks[e.Block].Buffer.AsSpan(e.Start, e.Length);
                record = new PerfRecord
                {
                    Offset = e.Offset,
                    DecompressedOffset = e.InnerOffset,
                    Header = PerfEventHeader.Read(bytes),
                    Bytes = bytes,
                    Attr = e.Attr,
                    AuxPayloadOffset = e.AuxOffset,
                    AuxPayloadSize = e.AuxSize,
                };
                return true;
            }
            if (_eof) { record = default; return false; }
            if (!_reader.TryRead(out PerfRecord r))
            {
                _eof = true;
                MakeReady(ulong.MaxValue);
                continue;
            }
            // FINISHED_INIT flushes nothing in perf 6.1 (its tool callback is a stub), so only rounds count.
            if (r.Type == PerfRecordType.FinishedRound)
            {
                // perf: flush up to the max time seen at the previous round marker.
                MakeReady(_limitAtLastRound);
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
            Queue(r, time);
        }
    }

    private void Queue(in PerfRecord r, ulong time)
    {
        int length = r.Bytes.Length;
        Block block = _blocks.Count > 0 ? _blocks[^1] : default!;
        if (_blocks.Count == 0 || block.Buffer.Length - block.Used < length)
        {
            block = new Block(ArrayPool<byte>.Shared.Rent(Math.Max(BlockSize, length)));
            _blocks.Add(block);
        }
        r.Bytes.CopyTo(block.Buffer.AsSpan(block.Used));
        if (_pendingCount == _pending.Length) Array.Resize(ref _pending, _pending.Length * 2);
        _pending[_pendingCount++] = new Entry(time, _seq++, _blocks.Count - 1, block.Used, length, r.Offset, r.DecompressedOffset, r.Attr, r.AuxPayloadOffset, r.AuxPayloadSize);
        block.Used += length;
        block.Live++;
    }

    /// <summary>Sorts what is queued and marks the entries at or before <paramref name="limit"/> as ready.</summary>
    private void MakeReady(ulong limit)
    {
        // Ready entries of an earlier round are all returned before the reader reads on, so none are left here.
        Array.Sort(_pending, 0, _pendingCount, default(ByTimeThenArrival));
        int ready = 0;
        while (ready < _pendingCount && _pending[ready].Time <= limit) ready++;
        _readyCount = ready;
        _next = 0;
    }

    /// <summary>Drops the returned (and already released) ready entries from the front of the pending array.</summary>
    private void RemoveReady()
    {
        Array.Copy(_pending, _readyCount, _pending, 0, _pendingCount - _readyCount);
        _pendingCount -= _readyCount;
        _readyCount = _next = 0;
    }

    /// <summary>One queued record of this block was returned and is no longer needed.</summary>
    private void Release(int index)
    {
        if (--_blocks[index].Live > 0 || index != 0) return;
        // Only blocks at the front are handed back (rounds release roughly in arrival order); entries' block
        // numbers are then shifted down. The newest block is kept and rewound for reuse instead.
        int drop = 0;
        while (drop < _blocks.Count && _blocks[drop].Live == 0) drop++;
        if (drop == _blocks.Count) { drop--; _blocks[^1].Used = 0; }
        if (drop == 0) return;
        for (int i = 0; i < drop; i++) ArrayPool<byte>.Shared.Return(_blocks[i].Buffer);
        _blocks.RemoveRange(0, drop);
        for (int i = _next; i < _pendingCount; i++) _pending[i].Block -= drop;
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
        foreach (Block b in _blocks) ArrayPool<byte>.Shared.Return(b.Buffer);
        _blocks.Clear();
        _pendingCount = _readyCount = _next = 0;
    }

    private sealed class Block(byte[] buffer)
    {
        public readonly byte[] Buffer = buffer;
        public int Used;
        /// <summary>Queued records in this block not yet returned and released.</summary>
        public int Live;
    }

    private record struct Entry(ulong Time, long Seq, int Block, int Start, int Length, long Offset, long InnerOffset, EventAttrInfo? Attr, long AuxOffset, long AuxSize);

    private readonly struct ByTimeThenArrival : IComparer<Entry>
    {
        public int Compare(Entry a, Entry b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Seq.CompareTo(b.Seq);
    }
}
