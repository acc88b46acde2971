using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>Steps through a span of whole perf records, allocation-free.</summary>
public static class RecordWalker
{
    /// <summary>Offset of the u64 payload size in a PERF_RECORD_AUXTRACE record.</summary>
    private const int AuxtraceSizeOffset = 8;

    /// <summary>
    /// Reads the record at <paramref name="position"/> and moves past it (and past the AUX payload of an
    /// AUXTRACE record). Returns false at the end, or when the bytes cannot be a record (size below 8 or past the
    /// end), leaving <paramref name="position"/> at the bad record.
    /// </summary>
    public static bool TryNext(ReadOnlySpan<byte> data, ref int position, out PerfEventHeader header, out ReadOnlySpan<byte> record)
    {
        header = default;
        record = default;
        if (data.Length - position < PerfEventHeader.ByteSize)
            return false;
        PerfEventHeader h = PerfEventHeader.Read(data[position..]);
        if (h.Size < PerfEventHeader.ByteSize || h.Size > data.Length - position)
            return false;

        long next = position + h.Size;
        if (h.Type == PerfRecordType.Auxtrace)
        {
            if (h.Size < AuxtraceSizeOffset + 8)
                return false;
            ulong payload = BinaryPrimitives.ReadUInt64LittleEndian(data[(position + AuxtraceSizeOffset)..]);
            if (payload > (ulong)(data.Length - next))
                return false;
            next += (long)payload;
        }

        header = h;
        record = data.Slice(position, h.Size);
        position = (int)next;
        return true;
    }
}
