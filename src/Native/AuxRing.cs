namespace DotnetPtrace.Native;

/// <summary>
/// Receives AUX bytes drained from an <see cref="AuxRing"/>: <paramref name="auxOffset"/> is the position of the
/// first byte in the trace (the free-running AUX offset a PERF_RECORD_AUXTRACE carries), the bytes come as at most
/// two spans because the region may wrap the buffer's end. The spans are valid only during the call.
/// </summary>
public interface IAuxConsumer
{
    void Consume(ulong auxOffset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second);
}

/// <summary>What one AUX drain found.</summary>
public readonly record struct AuxDrain(ulong Offset, ulong Bytes, bool Wrapped);

/// <summary>
/// What one snapshot passed on: <paramref name="Bytes"/> new bytes whose first is at trace position
/// <paramref name="Offset"/>. <paramref name="Lapped"/>: the writer went all the way round the buffer since the
/// previous snapshot, so bytes between the two were overwritten before anyone saw them (how many is unknown; the
/// offset counts the fewest possible). <paramref name="Skipped"/>: new bytes left out by the snapshot size limit.
/// </summary>
public readonly record struct AuxSnapshot(ulong Offset, ulong Bytes, bool Lapped, ulong Skipped);

/// <summary>
/// The AUX area of a perf event (Intel PT's trace bytes), mapped after the data ring at <c>aux_offset</c>. Two modes,
/// chosen by the mapping's protection as the kernel does:
/// <list type="bullet">
/// <item>full trace (PROT_READ|PROT_WRITE): <c>aux_head</c> is a free-running byte count; the kernel honours
/// <c>aux_tail</c> and, when the buffer is full, truncates (PERF_RECORD_AUX flag TRUNCATED) and disables the event,
/// so after every drain the event is enabled again (perf's auxtrace_record__read_finish);</item>
/// <item>snapshot (PROT_READ): the kernel overwrites; <c>aux_head</c> is the write position inside the buffer and
/// a snapshot is taken with the event disabled (disable, copy, enable).</item>
/// </list>
/// Barriers as for the data ring: acquire load of aux_head, full fence before the aux_tail store.
/// </summary>
public sealed unsafe class AuxRing : IDisposable
{
    private readonly byte* _userPage;
    private readonly MappedRegion _map;
    private readonly byte* _aux;
    private readonly ulong _mask;
    private readonly Action? _reenable;
    private ulong _tail;
    // Snapshot mode: the in-buffer head at the last snapshot, how many bytes before it are trace (not the initial
    // zeros), and the newest bytes of the last snapshot.
    private ulong _snapshotHead;
    private ulong _validBytes;
    private byte[] _reference = [];
    private int _referenceLength;
    private ulong? _lastSync;

    public ulong Size { get; }
    public bool Snapshot { get; }
    /// <summary>Bytes handed to consumers so far.</summary>
    public ulong BytesDrained { get; private set; }
    public int Drains { get; private set; }

    private AuxRing(byte* userPage, MappedRegion map, ulong size, bool snapshot, Action? reenable)
    {
        _userPage = userPage;
        _map = map;
        _aux = map.Address;
        Size = size;
        _mask = size - 1;
        Snapshot = snapshot;
        SnapshotLimit = size;
        _reenable = reenable;
    }

    /// <summary>
    /// Maps the AUX area of <paramref name="dataRing"/>'s event: writes aux_offset (the first page-aligned offset past
    /// the data mapping) and aux_size into the user page, then mmaps the fd at exactly that offset. The kernel
    /// checks all of it before it asks the PMU (see the AUX tests).
    /// </summary>
    public static AuxRing Map(DataRing dataRing, int auxPages, bool snapshot)
    {
        var owner = dataRing.Owner ?? throw new InvalidOperationException("a simulated data ring has no fd to map");
        if (auxPages <= 0 || (auxPages & (auxPages - 1)) != 0)
            throw new PerfException($"the AUX area must be a power of two number of pages, not {auxPages}");
        if (dataRing.Overwrite)
            throw new PerfException("the AUX area needs a writable data ring: aux_offset and aux_size are written into its user page");
        long pageSize = Environment.SystemPageSize;
        long offset = AuxOffsetFor(dataRing);
        long size = auxPages * pageSize;
        UserPage.Write(dataRing.UserPageAddress, UserPage.AuxOffset, (ulong)offset);
        UserPage.Write(dataRing.UserPageAddress, UserPage.AuxSize, (ulong)size);
        var map = MappedRegion.Map(owner, size, offset, writable: !snapshot, snapshot ? "AUX area (snapshot)" : "AUX area");
        return new AuxRing(dataRing.UserPageAddress, map, (ulong)size, snapshot, () => PerfEvent.Enable(owner));
    }

    /// <summary>perf puts the AUX area right after the data mapping: user page plus data pages.</summary>
    public static long AuxOffsetFor(DataRing dataRing) => Environment.SystemPageSize + (long)dataRing.Size;

    /// <summary>An AUX ring over simulated memory (SimulatedAuxProducer); <paramref name="reenable"/> stands for the ioctl.</summary>
    internal static AuxRing OverSimulatedMemory(byte* userPage, byte* aux, ulong size, bool snapshot, Action? reenable) =>
        new(userPage, MappedRegion.Unowned(aux, (long)size), size, snapshot, reenable);

    /// <summary>
    /// Full-trace mode: hands every byte between aux_tail and aux_head to the consumer, publishes the new tail,
    /// then re-enables the event (a no-op unless the kernel disabled it on a full buffer). No allocation.
    /// </summary>
    public AuxDrain Drain(IAuxConsumer consumer)
    {
        if (Snapshot) throw new InvalidOperationException("a snapshot AUX ring is read with TakeSnapshot");
        ulong head = UserPage.ReadHead(_userPage, UserPage.AuxHead);
        ulong length = head - _tail;
        if (length == 0) return new AuxDrain(_tail, 0, false);
        if (length > Size)
            throw new PerfException($"AUX head {head} is {length} bytes past tail {_tail} in a {Size}-byte buffer: the producer ignored aux_tail");
        ulong start = _tail & _mask;
        ulong firstLength = Math.Min(length, Size - start);
        consumer.Consume(_tail, new ReadOnlySpan<byte>(_aux + start, (int)firstLength), new ReadOnlySpan<byte>(_aux, (int)(length - firstLength)));
        var drain = new AuxDrain(_tail, length, firstLength < length);
        _tail = head;
        UserPage.WriteTail(_userPage, UserPage.AuxTail, head);
        BytesDrained += length;
        Drains++;
        _reenable?.Invoke();
        return drain;
    }

    /// <summary>
    /// Snapshot mode: hands on what was written since the previous snapshot, oldest byte first, so that consecutive
    /// snapshots never repeat a byte. Call it with the event disabled (the kernel publishes aux_head when the PMU
    /// stops, and nothing moves while we copy).
    /// <para>aux_head is only the write position inside the buffer, so the distance since the last snapshot is known
    /// modulo the buffer size. Whether the writer went all the way round in between (a lap: everything in the buffer
    /// is new and something before it was lost) is decided from the bytes: a copy of the newest bytes of the previous
    /// snapshot (<see cref="ReferenceBytes"/>) is compared with the place they were; they are still there exactly
    /// when no lap happened. Before the first snapshot the buffer is all zeros, so a non-zero byte after the head
    /// says it has wrapped (perf looks at the last 512 words for the same reason).</para>
    /// <para>At most <see cref="SnapshotLimit"/> bytes are passed on, the newest ones (perf's -S SIZE).</para>
    /// <para>With a <see cref="SyncPattern"/> (Intel PT's PSB), a snapshot that continues the previous one starts
    /// instead at the last sync point of the previous one: perf's decoder reads each snapshot-mode buffer from its
    /// first PSB only, and finds where it continues the previous one by matching the TSC of that PSB with the last
    /// one of the previous buffer (intel_pt_find_overlap_tsc). The repeat is visible in the offsets: such a chunk
    /// starts before the previous one ended. Chunks end where the kernel's head is, on a packet boundary (perf on
    /// 64-bit hosts does not join a packet split across two buffers).</para>
    /// </summary>
    public AuxSnapshot TakeSnapshot(IAuxConsumer consumer)
    {
        if (!Snapshot) throw new InvalidOperationException("a full-trace AUX ring is read with Drain");
        ulong head = UserPage.ReadHead(_userPage, UserPage.AuxHead) & _mask;
        ulong previous = _snapshotHead;   // where the bytes already passed on end, inside the buffer
        ulong distance = (head - previous) & _mask;
        bool lapped = _validBytes == 0 ? HasTraceFrom(head) : !ReferenceIntact(previous, distance);
        // Not lapped: the new bytes are [previous, head). Lapped: the whole buffer, starting at head, is new.
        ulong start = lapped ? head : previous;
        ulong length = lapped ? Size : distance;
        // After a lap at least `distance` bytes are gone for good (exactly that many if it was a single lap).
        ulong offset = _tail + (lapped ? distance : 0);
        ulong skipped = 0;
        if (length > SnapshotLimit)
        {
            skipped = length - SnapshotLimit;
            start = (start + skipped) & _mask;
            offset += skipped;
            length = SnapshotLimit;
        }
        bool syncing = !SyncPattern.IsEmpty;
        ulong repeat = 0;
        if (syncing && !lapped && skipped == 0 && length > 0 && _lastSync is { } sync && _tail - sync <= Size - distance)
        {
            // The last sync point of the previous chunk is still intact (the writer has not reached it): start there.
            repeat = _tail - sync;
            start = (start - repeat) & _mask;
            offset -= repeat;
        }
        ulong newBytes = length;
        length += repeat;
        if (newBytes > 0)
        {
            ulong firstLength = Math.Min(length, Size - start);
            var first = new ReadOnlySpan<byte>(_aux + start, (int)firstLength);
            var second = new ReadOnlySpan<byte>(_aux, (int)(length - firstLength));
            consumer.Consume(offset, first, second);
            if (syncing) _lastSync = LastSyncIn(first, second, offset) ?? _lastSync;
            BytesDrained += newBytes;
            Drains++;
        }
        ulong end = (start + length) & _mask;
        _tail = offset + length;
        _validBytes = lapped ? Size : Math.Min(Size, _validBytes + (newBytes > 0 ? (end - previous) & _mask : 0));
        if (newBytes > 0) _snapshotHead = end;
        KeepReference(_snapshotHead);
        return new AuxSnapshot(offset + repeat, newBytes, lapped, skipped);
    }

    /// <summary>
    /// Bytes that mark a place a decoder can start at (Intel PT: the 16-byte PSB, 02 82 repeated), or empty. When
    /// set, snapshots overlap by the bytes from the previous one's last sync point (see <see cref="TakeSnapshot"/>).
    /// </summary>
    public ReadOnlyMemory<byte> SyncPattern { get; set; }

    /// <summary>The trace position of the last sync point in the chunk just passed on (perf compares with it), or null.</summary>
    private ulong? LastSyncIn(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, ulong offset)
    {
        var pattern = SyncPattern.Span;
        int inSecond = second.LastIndexOf(pattern);
        if (inSecond >= 0) return offset + (ulong)first.Length + (ulong)inSecond;
        int inFirst = first.LastIndexOf(pattern);
        if (inFirst >= 0) return offset + (ulong)inFirst;
        return null;
    }

    /// <summary>Bytes of each snapshot kept to recognise the next one (perf keeps two PSB periods, at most 256 KiB).</summary>
    public int ReferenceBytes { get; init; } = 64 * 1024;

    /// <summary>The most bytes one snapshot passes on (perf's -S SIZE); the whole buffer unless set.</summary>
    public ulong SnapshotLimit { get; set; }

    /// <summary>
    /// Whether the newest bytes of the previous snapshot are still where they were. Only the part the writer cannot
    /// have reached without a lap is compared: the <c>Size - distance</c> bytes before the previous head.
    /// </summary>
    private bool ReferenceIntact(ulong previous, ulong distance)
    {
        int compare = (int)Math.Min((ulong)_referenceLength, Size - distance);
        var reference = _reference.AsSpan(_referenceLength - compare, compare);
        ulong from = (previous - (ulong)compare) & _mask;
        ulong firstLength = Math.Min((ulong)compare, Size - from);
        return reference[..(int)firstLength].SequenceEqual(new ReadOnlySpan<byte>(_aux + from, (int)firstLength))
            && reference[(int)firstLength..].SequenceEqual(new ReadOnlySpan<byte>(_aux, compare - (int)firstLength));
    }

    /// <summary>Copies the newest valid bytes before <paramref name="head"/> for the next snapshot's lap test.</summary>
    private void KeepReference(ulong head)
    {
        int length = (int)Math.Min((ulong)ReferenceBytes, _validBytes);
        if (_reference.Length < length) _reference = new byte[Math.Min((ulong)ReferenceBytes, Size)];
        ulong from = (head - (ulong)length) & _mask;
        ulong firstLength = Math.Min((ulong)length, Size - from);
        new ReadOnlySpan<byte>(_aux + from, (int)firstLength).CopyTo(_reference);
        new ReadOnlySpan<byte>(_aux, length - (int)firstLength).CopyTo(_reference.AsSpan((int)firstLength));
        _referenceLength = length;
    }

    /// <summary>
    /// Before any trace was seen: the kernel hands out the buffer zeroed, so the writer has been past
    /// <paramref name="head"/> (wrapped) exactly when something after it is not zero. perf looks at the last 512 words
    /// only, which takes a buffer whose writer is in its last 4 KiB for wrapped and copies the zeros ahead of it.
    /// </summary>
    private bool HasTraceFrom(ulong head) => new ReadOnlySpan<byte>(_aux + head, (int)(Size - head)).IndexOfAnyExcept((byte)0) >= 0;

    public void Dispose() => _map.Dispose();
}
