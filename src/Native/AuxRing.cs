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
    /// <summary>perf's wrap test looks at the last 512 u64 words of the (initially zeroed) buffer.</summary>
    private const int WrapProbeWords = 512;

    private readonly byte* _userPage;
    private readonly MappedRegion _map;
    private readonly byte* _aux;
    private readonly ulong _mask;
    private readonly Action? _reenable;
    private ulong _tail;
    private bool _wrapped;

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
    /// Snapshot mode: copies what the buffer holds now, oldest byte first. Call it with the event disabled (so the
    /// head is published and nothing moves). aux_head is the write position inside the buffer; until the buffer has
    /// wrapped once, the valid bytes are [0, head); after that the whole buffer, starting at head. Whether it has
    /// wrapped is seen, as perf does, from non-zero bytes in the tail of the initially zeroed buffer.
    /// The offset passed on is the trace position of the first byte (bytes written before it, as far as known).
    /// </summary>
    public AuxDrain TakeSnapshot(IAuxConsumer consumer)
    {
        if (!Snapshot) throw new InvalidOperationException("a full-trace AUX ring is read with Drain");
        ulong head = UserPage.ReadHead(_userPage, UserPage.AuxHead) & _mask;
        if (!_wrapped) _wrapped = TailIsWritten();
        AuxDrain drain;
        if (_wrapped)
        {
            consumer.Consume(_tail, new ReadOnlySpan<byte>(_aux + head, (int)(Size - head)), new ReadOnlySpan<byte>(_aux, (int)head));
            drain = new AuxDrain(_tail, Size, true);
        }
        else
        {
            if (head == 0) return new AuxDrain(_tail, 0, false);
            consumer.Consume(_tail, new ReadOnlySpan<byte>(_aux, (int)head), default);
            drain = new AuxDrain(_tail, head, false);
        }
        _tail += drain.Bytes;
        BytesDrained += drain.Bytes;
        Drains++;
        return drain;
    }

    private bool TailIsWritten()
    {
        int words = (int)Math.Min((ulong)WrapProbeWords, Size / 8);
        var tail = new ReadOnlySpan<ulong>(_aux + Size - (ulong)words * 8, words);
        return tail.IndexOfAnyExcept(0UL) >= 0;
    }

    public void Dispose() => _map.Dispose();
}
