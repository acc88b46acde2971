using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Simulation;

/// <summary>
/// A SIMULATION of the kernel's side of an AUX-area event (what the Intel PT driver and kernel/events/ring_buffer.c
/// do), for machines without Intel PT. It owns memory laid out exactly like the kernel's mapping — user page, data
/// ring, AUX area — and, from whatever thread calls <see cref="Write"/>, produces into it by the kernel's rules:
/// <list type="bullet">
/// <item>order: trace bytes first, then a PERF_RECORD_AUX {aux_offset, aux_size, flags} in the data ring, then a
/// release store of aux_head (perf_aux_output_end);</item>
/// <item>full-trace mode honours aux_tail: what does not fit is lost, the record carries TRUNCATED, and the event
/// disables itself until the consumer enables it again (pending_disable);</item>
/// <item>snapshot (overwrite) mode never stops: it wraps over old data, aux_head is the write position inside the
/// buffer, and no AUX records are written (records with only OVERWRITE are suppressed);</item>
/// <item>the data ring honours data_tail too; records that do not fit are counted and reported by a
/// PERF_RECORD_LOST once there is room.</item>
/// </list>
/// The consumer side is the production code: <see cref="DataRing"/> and <see cref="AuxRing"/> over this memory.
/// </summary>
public sealed unsafe class SimulatedAuxProducer : IDisposable
{
    public const ulong FlagTruncated = 0x01;
    public const ulong FlagOverwrite = 0x02;

    private readonly byte* _memory;
    private readonly byte* _userPage;
    private readonly byte* _data;
    private readonly byte* _aux;
    private readonly ulong _dataSize;
    private readonly ulong _auxSize;
    private ulong _dataHead;
    private ulong _auxHead;         // free-running (full trace) or in-buffer position (snapshot)
    private ulong _pendingLost;
    private int _enabled = 1;
    // Held for each burst: PERF_EVENT_IOC_DISABLE returns only once the PMU has stopped and published aux_head, so a
    // snapshot taken after Disable never races a write.
    private readonly Lock _writing = new();

    public DataRing DataRing { get; }
    public AuxRing AuxRing { get; }
    public bool Snapshot { get; }

    /// <summary>Trace bytes the producer was given while enabled and that fitted.</summary>
    public ulong BytesAccepted { get; private set; }
    /// <summary>Trace bytes that were lost: no room (truncated) or produced while the event was disabled.</summary>
    public ulong BytesLost { get; private set; }
    public int Truncations { get; private set; }
    public ulong DataRecordsLost { get; private set; }

    public bool Enabled => Volatile.Read(ref _enabled) == 1;

    /// <param name="reenableOnDrain">Whether the consumer's drain re-enables a disabled event, as it must: turning it
    /// off measures what perf's re-enable logic is worth.</param>
    public SimulatedAuxProducer(int dataPages, int auxPages, bool snapshot, bool reenableOnDrain = true)
    {
        int page = Environment.SystemPageSize;
        _dataSize = (ulong)dataPages * (ulong)page;
        _auxSize = (ulong)auxPages * (ulong)page;
        long total = page + (long)_dataSize + (long)_auxSize;
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)total, (nuint)page);
        NativeMemory.Clear(_memory, (nuint)total);
        _userPage = _memory;
        _data = _memory + page;
        _aux = _data + _dataSize;
        Snapshot = snapshot;
        UserPage.Write(_userPage, UserPage.DataOffset, (ulong)page);
        UserPage.Write(_userPage, UserPage.DataSize, _dataSize);
        UserPage.Write(_userPage, UserPage.AuxOffset, (ulong)page + _dataSize);
        UserPage.Write(_userPage, UserPage.AuxSize, _auxSize);
        DataRing = DataRing.OverSimulatedMemory(_userPage, page + (long)_dataSize, cpu: 0);
        AuxRing = AuxRing.OverSimulatedMemory(_userPage, _aux, _auxSize, snapshot, reenableOnDrain ? Enable : null);
    }

    /// <summary>PERF_EVENT_IOC_ENABLE.</summary>
    public void Enable() => Volatile.Write(ref _enabled, 1);

    /// <summary>PERF_EVENT_IOC_DISABLE: waits for a burst in flight, as the kernel stops the PMU synchronously.</summary>
    public void Disable()
    {
        lock (_writing) Volatile.Write(ref _enabled, 0);
    }

    /// <summary>
    /// One burst of trace, as the hardware would deliver between two PMIs. Returns the bytes that made it into the
    /// AUX area.
    /// </summary>
    public int Write(ReadOnlySpan<byte> trace)
    {
        lock (_writing)
        {
            if (!Enabled)
            {
                BytesLost += (ulong)trace.Length;
                return 0;
            }
            return Snapshot ? WriteOverwrite(trace) : WriteFullTrace(trace);
        }
    }

    private int WriteFullTrace(ReadOnlySpan<byte> trace)
    {
        // The kernel reads aux_tail (READ_ONCE + barrier) to know how much room there is.
        ulong tail = UserPage.ReadHead(_userPage, UserPage.AuxTail);
        ulong free = _auxSize - (_auxHead - tail);
        int fits = (int)Math.Min((ulong)trace.Length, free);
        ulong flags = 0;
        CopyIntoAux(_auxHead, trace[..fits]);
        if (fits < trace.Length)
        {
            flags |= FlagTruncated;
            BytesLost += (ulong)(trace.Length - fits);
            Truncations++;
            Volatile.Write(ref _enabled, 0);   // pending_disable: the PMU stops until user space enables it again
        }
        BytesAccepted += (ulong)fits;
        if (fits > 0 || flags != 0) EmitAuxRecord(_auxHead, (ulong)fits, flags);
        _auxHead += (ulong)fits;
        UserPage.Write(_userPage, UserPage.AuxHead, _auxHead);   // Volatile.Write: a release store
        return fits;
    }

    private int WriteOverwrite(ReadOnlySpan<byte> trace)
    {
        // Only the newest aux_size bytes of a long burst can survive.
        if ((ulong)trace.Length > _auxSize)
        {
            int skip = trace.Length - (int)_auxSize;
            _auxHead = (_auxHead + (ulong)skip) % _auxSize;
            trace = trace[skip..];
        }
        CopyIntoAux(_auxHead, trace);
        _auxHead = (_auxHead + (ulong)trace.Length) % _auxSize;
        BytesAccepted += (ulong)trace.Length;
        UserPage.Write(_userPage, UserPage.AuxHead, _auxHead);
        return trace.Length;
    }

    private void CopyIntoAux(ulong position, ReadOnlySpan<byte> bytes)
    {
        ulong start = position % _auxSize;
        int first = (int)Math.Min((ulong)bytes.Length, _auxSize - start);
        bytes[..first].CopyTo(new Span<byte>(_aux + start, first));
        bytes[first..].CopyTo(new Span<byte>(_aux, bytes.Length - first));
    }

    /// <summary>PERF_RECORD_AUX into the data ring, honouring data_tail; a LOST record first if some were dropped.</summary>
    private void EmitAuxRecord(ulong auxOffset, ulong auxSize, ulong flags)
    {
        Span<byte> record = stackalloc byte[32];
        new PerfEventHeader(PerfRecordType.Aux, 0, 32).Write(record);
        BinaryPrimitives.WriteUInt64LittleEndian(record[8..], auxOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(record[16..], auxSize);
        BinaryPrimitives.WriteUInt64LittleEndian(record[24..], flags);
        if (_pendingLost > 0)
        {
            Span<byte> lost = stackalloc byte[24];
            new PerfEventHeader(PerfRecordType.Lost, 0, 24).Write(lost);
            BinaryPrimitives.WriteUInt64LittleEndian(lost[8..], 0);
            BinaryPrimitives.WriteUInt64LittleEndian(lost[16..], _pendingLost);
            if (!TryWriteData(lost)) { _pendingLost++; DataRecordsLost++; return; }
            _pendingLost = 0;
        }
        if (!TryWriteData(record)) { _pendingLost++; DataRecordsLost++; }
    }

    private bool TryWriteData(ReadOnlySpan<byte> record)
    {
        ulong tail = UserPage.ReadHead(_userPage, UserPage.DataTail);
        if (_dataSize - (_dataHead - tail) < (ulong)record.Length) return false;
        ulong start = _dataHead & (_dataSize - 1);
        int first = (int)Math.Min((ulong)record.Length, _dataSize - start);
        record[..first].CopyTo(new Span<byte>(_data + start, first));
        record[first..].CopyTo(new Span<byte>(_data, record.Length - first));
        _dataHead += (ulong)record.Length;
        UserPage.Write(_userPage, UserPage.DataHead, _dataHead);   // release: the record is visible first
        return true;
    }

    public void Dispose()
    {
        DataRing.Dispose();
        AuxRing.Dispose();
        NativeMemory.AlignedFree(_memory);
    }
}
