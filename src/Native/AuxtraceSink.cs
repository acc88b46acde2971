using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Native;

/// <summary>
/// Turns each AUX drain into a PERF_RECORD_AUXTRACE for the file: a 48-byte record {size, offset, reference, idx,
/// tid, cpu} whose header.size does not count the payload, followed by the trace bytes padded to 8 (perf's
/// __auxtrace_mmap__read). Record and payload go out as one chunk, so the writer never sees half of one.
/// </summary>
public sealed class AuxtraceSink(BackgroundPerfDataWriter writer, int idx, int cpu, int tid = -1) : IAuxConsumer
{
    public const int RecordSize = 48;

    /// <summary>Called for the reference field: perf uses rdtsc at copy time to order snapshot buffers.</summary>
    public Func<ulong>? Reference { get; init; }

    public void Consume(ulong auxOffset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        int length = first.Length + second.Length;
        int padded = (length + 7) & ~7;
        byte[] buffer = writer.RentBuffer(RecordSize + padded);
        var span = buffer.AsSpan(0, RecordSize + padded);
        new PerfEventHeader(PerfRecordType.Auxtrace, 0, RecordSize).Write(span);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], (ulong)padded);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], auxOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], Reference?.Invoke() ?? 0);
        BinaryPrimitives.WriteUInt32LittleEndian(span[32..], (uint)idx);
        BinaryPrimitives.WriteUInt32LittleEndian(span[36..], (uint)tid);
        BinaryPrimitives.WriteUInt32LittleEndian(span[40..], (uint)cpu);
        BinaryPrimitives.WriteUInt32LittleEndian(span[44..], 0);
        first.CopyTo(span[RecordSize..]);
        second.CopyTo(span[(RecordSize + first.Length)..]);
        span[(RecordSize + length)..].Clear();
        writer.Post(new RecordChunk(buffer, span.Length));
    }
}
