using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Counts what a recording wrote: records per type, samples, and what the kernel says was lost
/// (PERF_RECORD_LOST: ring full, <c>lost</c> records dropped; PERF_RECORD_LOST_SAMPLES: samples the PMU dropped).
/// Updated on the writer thread; read it after <see cref="BackgroundPerfDataWriter.WaitForWriter"/>.
/// </summary>
public sealed class RecordStatistics : IRecordObserver
{
    /// <summary>Record types are u32, but every known one is below 128 (kernel 1-21, perf 64-83).</summary>
    private const int TrackedTypes = 128;

    private readonly long[] _countByType = new long[TrackedTypes];

    public long Records { get; private set; }
    public long Bytes { get; private set; }
    /// <summary>Records whose type is 128 or more (unknown to this tool).</summary>
    public long OtherTypeRecords { get; private set; }
    public long Samples => Count(PerfRecordType.Sample);
    /// <summary>Number of PERF_RECORD_LOST records (each one is a burst of loss).</summary>
    public long LostRecords => Count(PerfRecordType.Lost);
    /// <summary>Sum of the <c>lost</c> field of PERF_RECORD_LOST: records the kernel could not put in the ring.</summary>
    public ulong LostEvents { get; private set; }
    /// <summary>Sum of the <c>lost</c> field of PERF_RECORD_LOST_SAMPLES.</summary>
    public ulong LostSamples { get; private set; }
    /// <summary>AUX bytes the kernel reported (PERF_RECORD_AUX aux_size), and its flags: trace lost or with gaps.</summary>
    public ulong AuxBytes { get; private set; }
    public long AuxTruncated { get; private set; }
    public long AuxPartial { get; private set; }
    public long AuxCollision { get; private set; }
    /// <summary>Trace bytes carried by PERF_RECORD_AUXTRACE records (their payload).</summary>
    public ulong AuxtraceBytes { get; private set; }

    public long Count(PerfRecordType type) => (uint)type < TrackedTypes ? _countByType[(int)type] : 0;

    public void OnRecord(in PerfEventHeader header, ReadOnlySpan<byte> record)
    {
        Records++;
        Bytes += record.Length;
        uint type = (uint)header.Type;
        if (type < TrackedTypes)
            _countByType[type]++;
        else
            OtherTypeRecords++;

        switch (header.Type)
        {
            case PerfRecordType.Lost when record.Length >= 24:  // header; u64 id; u64 lost
                LostEvents += BinaryPrimitives.ReadUInt64LittleEndian(record[16..]);
                break;
            case PerfRecordType.LostSamples when record.Length >= 16:  // header; u64 lost
                LostSamples += BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
                break;
            case PerfRecordType.Aux when record.Length >= 32:  // header; u64 aux_offset, aux_size, flags
                AuxBytes += BinaryPrimitives.ReadUInt64LittleEndian(record[16..]);
                ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(record[24..]);
                if ((flags & 0x01) != 0) AuxTruncated++;
                if ((flags & 0x04) != 0) AuxPartial++;
                if ((flags & 0x08) != 0) AuxCollision++;
                break;
            case PerfRecordType.Auxtrace when record.Length >= 16:  // header; u64 size; ...
                AuxtraceBytes += BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
                break;
        }
    }
}
