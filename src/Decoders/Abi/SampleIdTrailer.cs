using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.Abi;

/// <summary>
/// The <c>sample_id</c> block that ends every non-sample record when attr.sample_id_all is set: each field present
/// only if its bit is in sample_type, in the kernel's order TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER.
/// </summary>
public readonly record struct SampleIdTrailer(uint Pid, uint Tid, ulong Time, ulong Id, ulong StreamId, uint Cpu)
{
    public static int SizeFor(SampleType type)
    {
        int size = 0;
        if ((type & SampleType.Tid) != 0) size += 8;
        if ((type & SampleType.Time) != 0) size += 8;
        if ((type & SampleType.Id) != 0) size += 8;
        if ((type & SampleType.StreamId) != 0) size += 8;
        if ((type & SampleType.Cpu) != 0) size += 8;
        if ((type & SampleType.Identifier) != 0) size += 8;
        return size;
    }

    public int Write(Span<byte> destination, SampleType type)
    {
        int o = 0;
        if ((type & SampleType.Tid) != 0) { U32(destination, ref o, Pid); U32(destination, ref o, Tid); }
        if ((type & SampleType.Time) != 0) U64(destination, ref o, Time);
        if ((type & SampleType.Id) != 0) U64(destination, ref o, Id);
        if ((type & SampleType.StreamId) != 0) U64(destination, ref o, StreamId);
        if ((type & SampleType.Cpu) != 0) { U32(destination, ref o, Cpu); U32(destination, ref o, 0); }
        if ((type & SampleType.Identifier) != 0) U64(destination, ref o, Id);
        return o;
    }

    private static void U32(Span<byte> d, ref int o, uint v) { BinaryPrimitives.WriteUInt32LittleEndian(d[o..], v); o += 4; }
    private static void U64(Span<byte> d, ref int o, ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(d[o..], v); o += 8; }
}
