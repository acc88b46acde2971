using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native;

/// <summary>
/// The data ring of one perf event: a user page followed by 2^n pages of records the kernel writes. Three modes:
/// <list type="bullet">
/// <item>normal (PROT_WRITE): the kernel honours data_tail and never overwrites unread records; when full it
/// drops and later reports PERF_RECORD_LOST;</item>
/// <item>overwrite (read-only mapping): data_tail is ignored and old records are overwritten;</item>
/// <item>write_backward (read-only, attr.write_backward): records are written from the end towards the start so
/// the newest record is always at head, which makes an overwritten ring readable.</item>
/// </list>
/// Positions are free-running u64 byte counters; the place in the buffer is <c>position &amp; (size - 1)</c>.
/// </summary>
public sealed unsafe class DataRing : IDisposable
{
    private readonly MappedRegion _map;
    private readonly byte* _data;
    private readonly ulong _mask;
    private ulong _tail;        // next unread byte (normal mode) or the head at the previous read (overwrite modes)
    private readonly byte[] _scratch = new byte[ushort.MaxValue + 1];  // one record that wraps the end, copied out

    /// <summary>The fd whose mapping this is; null for a simulated ring.</summary>
    public PerfEventHandle? Owner { get; }

    /// <summary>The user page: the AUX ring's pointers live there too.</summary>
    internal byte* UserPageAddress => _map.Address;
    public int Cpu { get; }
    public ulong Size { get; }
    public bool Overwrite { get; }
    public bool Backward { get; }
    /// <summary>Bytes published and consumed since the ring was mapped.</summary>
    public ulong BytesRead { get; private set; }
    /// <summary>Bytes an overwrite ring lost between two reads (the kernel had wrapped past what we had read).</summary>
    public ulong BytesOverwritten { get; private set; }

    private DataRing(PerfEventHandle? owner, int cpu, MappedRegion map, bool overwrite, bool backward)
    {
        Owner = owner;
        Cpu = cpu;
        _map = map;
        Overwrite = overwrite;
        Backward = backward;
        byte* page = map.Address;
        // data_offset/data_size exist since Linux 4.1; before that the ring starts one page in.
        ulong offset = UserPage.Read(page, UserPage.DataOffset);
        ulong size = UserPage.Read(page, UserPage.DataSize);
        if (size == 0) { offset = (ulong)Environment.SystemPageSize; size = (ulong)map.Length - offset; }
        _data = page + offset;
        Size = size;
        _mask = size - 1;
        _tail = UserPage.ReadHead(page, UserPage.DataHead);
    }

    /// <summary>
    /// Maps <paramref name="dataPages"/> (a power of two) pages plus the user page. A read-only mapping puts the
    /// kernel in overwrite mode; pass <paramref name="backward"/> when the event was opened with write_backward.
    /// </summary>
    public static DataRing Map(PerfEventHandle fd, int cpu, int dataPages, bool overwrite = false, bool backward = false)
    {
        if (dataPages <= 0 || (dataPages & (dataPages - 1)) != 0)
            throw new PerfException($"ring size must be a power of two number of pages, not {dataPages}");
        long length = (1L + dataPages) * Environment.SystemPageSize;
        var map = MappedRegion.Map(fd, length, 0, writable: !overwrite, "data ring");
        return new DataRing(fd, cpu, map, overwrite, backward);
    }

    /// <summary>
    /// A ring over memory that a simulation of the kernel fills (SimulatedAuxProducer): the same layout as the
    /// kernel's mapping, a user page with data_offset/data_size followed by the data area.
    /// </summary>
    internal static DataRing OverSimulatedMemory(byte* userPage, long mappingLength, int cpu) =>
        new(null, cpu, MappedRegion.Unowned(userPage, mappingLength), overwrite: false, backward: false);

    /// <summary>
    /// The TSC-to-perf-time conversion the kernel publishes in the user page (needs cap_user_time_zero): what
    /// TIME_CONV and Intel PT's AUXTRACE_INFO carry so a decoder can put TSC packets on perf's clock.
    /// </summary>
    public TimeConversion ReadTimeConversion()
    {
        byte* page = _map.Address;
        ulong caps = UserPage.Read(page, UserPage.Capabilities);
        return new TimeConversion(
            *(ushort*)(page + UserPage.TimeShift),
            *(uint*)(page + UserPage.TimeMult),
            UserPage.Read(page, UserPage.TimeZero),
            UserPage.Read(page, UserPage.TimeCycles),
            UserPage.Read(page, UserPage.TimeMask),
            CapUserTimeZero: (caps & (1UL << 4)) != 0,
            CapUserTimeShort: (caps & (1UL << 5)) != 0);
    }

    /// <summary>Bytes published but not yet read (normal mode).</summary>
    public ulong Available => UserPage.ReadHead(_map.Address, UserPage.DataHead) - _tail;

    /// <summary>
    /// Normal mode: hands everything between our tail and the kernel's head to <paramref name="consumer"/>, then
    /// publishes the new tail. The kernel only advances head past whole records, so the region holds whole
    /// records. Returns the number of bytes drained. No allocation.
    /// </summary>
    public int Drain(IRingConsumer consumer)
    {
        if (Overwrite) throw new InvalidOperationException("an overwrite ring is read with ReadOverwrite");
        ulong head = UserPage.ReadHead(_map.Address, UserPage.DataHead);
        ulong length = head - _tail;
        if (length == 0) return 0;
        if (length > Size)
            // Cannot happen while the kernel honours data_tail; if it does, the data under us is garbage.
            throw new PerfException($"data ring on CPU {Cpu} overran: head {head} is {length} bytes past tail {_tail} in a {Size}-byte ring");
        ulong start = _tail & _mask;
        ulong firstLength = Math.Min(length, Size - start);
        var first = new ReadOnlySpan<byte>(_data + start, (int)firstLength);
        var second = new ReadOnlySpan<byte>(_data, (int)(length - firstLength));
        consumer.Consume(first, second);
        _tail = head;
        BytesRead += length;
        UserPage.WriteTail(_map.Address, UserPage.DataTail, head);
        return (int)length;
    }

    /// <summary>
    /// Normal mode, record by record: each record is presented contiguous (one that wraps the end is copied into
    /// a scratch buffer first); the tail is published once at the end, as libperf's read_done does.
    /// </summary>
    public int ReadRecords<TVisitor>(ref TVisitor visitor) where TVisitor : struct, IRecordVisitor
    {
        if (Overwrite) throw new InvalidOperationException("an overwrite ring is read with ReadOverwrite");
        ulong head = UserPage.ReadHead(_map.Address, UserPage.DataHead);
        int count = WalkRecords(_tail, head, ref visitor, stopAtZero: false);
        BytesRead += head - _tail;
        _tail = head;
        UserPage.WriteTail(_map.Address, UserPage.DataTail, head);
        return count;
    }

    /// <summary>
    /// Overwrite modes: reads what the ring holds now, newest last for forward rings and newest first for backward
    /// rings. Pause the event's output (<see cref="PerfEvent.PauseOutput"/>) around the call so the kernel does not
    /// write under us. For backward rings the records from head run towards older ones until a zero header or a
    /// full buffer (perf's overwrite_rb_find_range); a forward ring that wrapped has no findable record boundary,
    /// so its lost bytes are counted in <see cref="BytesOverwritten"/> and only the unwrapped case is read.
    /// </summary>
    public int ReadOverwrite<TVisitor>(ref TVisitor visitor) where TVisitor : struct, IRecordVisitor
    {
        ulong head = UserPage.ReadHead(_map.Address, UserPage.DataHead);
        int count;
        if (Backward)
        {
            // head runs downwards; [head, previous head) is new, but never more than one buffer.
            ulong available = _tail - head;
            if (available > Size) { BytesOverwritten += available - Size; available = Size; }
            count = WalkRecords(head, head + available, ref visitor, stopAtZero: true);
        }
        else
        {
            ulong available = head - _tail;
            if (available > Size)
            {
                BytesOverwritten += available;
                count = 0;
            }
            else count = WalkRecords(_tail, head, ref visitor, stopAtZero: false);
        }
        _tail = head;
        return count;
    }

    private int WalkRecords<TVisitor>(ulong from, ulong to, ref TVisitor visitor, bool stopAtZero) where TVisitor : struct, IRecordVisitor
    {
        int count = 0;
        ulong pos = from;
        while (to - pos >= (ulong)PerfEventHeader.ByteSize)
        {
            ulong offset = pos & _mask;
            // The header never straddles the end: records are 8-byte aligned and the ring is a multiple of 8.
            var header = PerfEventHeader.Read(new ReadOnlySpan<byte>(_data + offset, PerfEventHeader.ByteSize));
            if (header.Size == 0 && stopAtZero) break;
            // In an overwrite ring the oldest record may be cut by the newest (perf's overwrite_rb_find_range
            // stops before it); anywhere else a record past the head means corruption.
            if (stopAtZero && header.Size > to - pos) break;
            if (header.Size < PerfEventHeader.ByteSize || header.Size > to - pos)
                throw new PerfException($"corrupt record header in the ring on CPU {Cpu} at position {pos}: size {header.Size}");
            ReadOnlySpan<byte> record;
            if (offset + header.Size <= Size)
                record = new ReadOnlySpan<byte>(_data + offset, header.Size);
            else
            {
                int firstPart = (int)(Size - offset);
                new ReadOnlySpan<byte>(_data + offset, firstPart).CopyTo(_scratch);
                new ReadOnlySpan<byte>(_data, header.Size - firstPart).CopyTo(_scratch.AsSpan(firstPart));
                record = _scratch.AsSpan(0, header.Size);
            }
            visitor.Visit(header, record);
            pos += header.Size;
            count++;
        }
        return count;
    }

    public void Dispose() => _map.Dispose();
}

/// <summary>The user page's time fields (uapi perf_event_mmap_page, cap_user_time_zero and cap_user_time_short).</summary>
public readonly record struct TimeConversion(ushort TimeShift, uint TimeMult, ulong TimeZero, ulong TimeCycles, ulong TimeMask,
    bool CapUserTimeZero, bool CapUserTimeShort)
{
    /// <summary>
    /// The TSC value at perf time <paramref name="perfTimeNs"/>: the inverse of time = zero + (tsc * mult) >> shift.
    /// Used for AUXTRACE's reference, which perf fills with rdtsc at copy time and which its PT decoder needs non-zero
    /// in timed mode (perf 6.1 crashes on 0); .NET has no rdtsc, so the clock is converted back instead.
    /// </summary>
    public ulong TscAt(ulong perfTimeNs)
    {
        if (!CapUserTimeZero || TimeMult == 0) return 0;
        // time_zero may be "negative" (it is whatever makes the sum right), so the subtraction wraps as the kernel's.
        UInt128 tsc = ((UInt128)unchecked(perfTimeNs - TimeZero) << TimeShift) / TimeMult;
        return tsc > ulong.MaxValue ? ulong.MaxValue : (ulong)tsc;
    }
}

/// <summary>Called once per record by <see cref="DataRing.ReadRecords{T}"/>; the span includes the header.</summary>
public interface IRecordVisitor
{
    void Visit(in PerfEventHeader header, ReadOnlySpan<byte> record);
}
