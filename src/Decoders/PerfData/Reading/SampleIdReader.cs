using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// Reads the sample_id_all trailer of a non-sample record. Its length is known from sample_type, so it is parsed
/// from the end of the record backwards to where it starts, then forwards in the kernel's order.
/// </summary>
public static class SampleIdReader
{
    public const SampleType TrailerBits = SampleType.Tid | SampleType.Time | SampleType.Id | SampleType.StreamId | SampleType.Cpu | SampleType.Identifier;

    /// <summary>False when the record is a SAMPLE or user record, the event has no trailer, or it does not fit.</summary>
    public static bool TryRead(PerfRecordType type, ReadOnlySpan<byte> record, EventAttrInfo? attr, out SampleIdTrailer trailer, out int trailerStart)
    {
        trailer = default;
        trailerStart = record.Length;
        if (attr is null || !attr.SampleIdAll || type == PerfRecordType.Sample || (uint)type >= 64) return false;
        SampleType t = attr.SampleType & TrailerBits;
        int size = SampleIdTrailer.SizeFor(t);
        if (size == 0 || record.Length - PerfEventHeader.ByteSize < size) return false;
        int o = record.Length - size;
        trailerStart = o;
        uint pid = 0, tid = 0, cpu = 0; ulong time = 0, id = 0, stream = 0;
        if ((t & SampleType.Tid) != 0) { pid = U32(record, o); tid = U32(record, o + 4); o += 8; }
        if ((t & SampleType.Time) != 0) { time = U64(record, o); o += 8; }
        if ((t & SampleType.Id) != 0) { id = U64(record, o); o += 8; }
        if ((t & SampleType.StreamId) != 0) { stream = U64(record, o); o += 8; }
        if ((t & SampleType.Cpu) != 0) { cpu = U32(record, o); o += 8; }
        if ((t & SampleType.Identifier) != 0) { id = U64(record, o); }
        trailer = new SampleIdTrailer(pid, tid, time, id, stream, cpu);
        return true;
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
