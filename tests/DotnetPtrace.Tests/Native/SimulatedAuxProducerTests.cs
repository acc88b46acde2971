using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Simulation;

namespace DotnetPtrace.Tests.Native;

/// <summary>
/// The AUX consumer (AuxRing, DataRing) against the simulated kernel producer running on another thread: every
/// byte arrives once and in order, or its loss is reported; snapshots come out oldest first.
/// </summary>
public class SimulatedAuxProducerTests
{
    /// <summary>The trace byte at position i of the generated stream: easy to check, never zero.</summary>
    private static byte TraceByte(ulong i) => (byte)(((i * 2654435761UL) >> 13) | 1);

    private sealed class Collector : IAuxConsumer
    {
        public readonly MemoryStream Bytes = new();
        public ulong ExpectedOffset;
        public bool OffsetsContiguous = true;

        public void Consume(ulong auxOffset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
        {
            OffsetsContiguous &= auxOffset == ExpectedOffset;
            ExpectedOffset = auxOffset + (ulong)(first.Length + second.Length);
            Bytes.Write(first);
            Bytes.Write(second);
        }
    }

    private struct AuxRecords : IRecordVisitor
    {
        public ulong Bytes;
        public int Truncated;
        public int Records;
        public ulong NextOffset;
        public bool Contiguous;

        public void Visit(in PerfEventHeader header, ReadOnlySpan<byte> record)
        {
            if (header.Type != PerfRecordType.Aux) return;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(record[16..]);
            ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(record[24..]);
            Contiguous &= offset == NextOffset;
            NextOffset = offset + size;
            Bytes += size;
            Records++;
            if ((flags & SimulatedAuxProducer.FlagTruncated) != 0) Truncated++;
        }
    }

    /// <summary>Runs the producer on its own thread with random burst sizes while this thread drains.</summary>
    private static (SimulatedAuxProducer Producer, Collector Collected, AuxRecords Records, List<(ulong Start, int Length)> Accepted, ulong Generated)
        Run(int auxPages, int bursts, int maxBurst, int seed, bool reenable, int consumerPauseEvery = 0)
    {
        var producer = new SimulatedAuxProducer(dataPages: 8, auxPages, snapshot: false, reenableOnDrain: reenable);
        var accepted = new List<(ulong, int)>();
        ulong generated = 0;
        var thread = new Thread(() =>
        {
            var random = new Random(seed);
            var burst = new byte[maxBurst];
            for (int b = 0; b < bursts; b++)
            {
                int length = random.Next(1, maxBurst + 1);
                for (int i = 0; i < length; i++) burst[i] = TraceByte(generated + (ulong)i);
                int fitted = producer.Write(burst.AsSpan(0, length));
                if (fitted > 0) lock (accepted) accepted.Add((generated, fitted));
                generated += (ulong)length;
                if ((b & 15) == 0) Thread.Yield();
            }
        });
        var collector = new Collector();
        var records = new AuxRecords { Contiguous = true };
        thread.Start();
        int drains = 0;
        while (thread.IsAlive)
        {
            producer.AuxRing.Drain(collector);
            producer.DataRing.ReadRecords(ref records);
            if (consumerPauseEvery > 0 && ++drains % consumerPauseEvery == 0) Thread.Sleep(1);
        }
        thread.Join();
        producer.AuxRing.Drain(collector);
        producer.DataRing.ReadRecords(ref records);
        return (producer, collector, records, accepted, generated);
    }

    private static byte[] Expected(List<(ulong Start, int Length)> accepted)
    {
        var expected = new MemoryStream();
        foreach (var (start, length) in accepted)
            for (int i = 0; i < length; i++) expected.WriteByte(TraceByte(start + (ulong)i));
        return expected.ToArray();
    }

    [Theory]
    [InlineData(4, 20000, 3000, 1)]
    [InlineData(16, 20000, 9000, 2)]
    [InlineData(2, 50000, 700, 3)]
    public void Every_accepted_byte_arrives_once_and_in_order(int auxPages, int bursts, int maxBurst, int seed)
    {
        var (producer, collected, records, accepted, generated) = Run(auxPages, bursts, maxBurst, seed, reenable: true);
        using (producer)
        {
            Assert.Equal(Expected(accepted), collected.Bytes.ToArray());
            Assert.True(collected.OffsetsContiguous);
            Assert.Equal(producer.BytesAccepted, (ulong)collected.Bytes.Length);
            Assert.Equal(generated, producer.BytesAccepted + producer.BytesLost);
            // The AUX records describe exactly the bytes that arrived, back to back.
            Assert.Equal(0UL, producer.DataRecordsLost);
            Assert.True(records.Contiguous);
            Assert.Equal(producer.BytesAccepted, records.Bytes);
            Assert.Equal(producer.Truncations, records.Truncated);
            Assert.True(producer.AuxRing.BytesDrained > 4 * producer.AuxRing.Size, "the buffer never wrapped");
        }
    }

    [Fact]
    public void A_slow_consumer_loses_bytes_but_every_loss_is_a_reported_truncation()
    {
        var (producer, collected, records, accepted, generated) = Run(2, 20000, 4000, 7, reenable: true, consumerPauseEvery: 3);
        using (producer)
        {
            Assert.True(producer.Truncations > 0, "the overload did not fill the buffer");
            Assert.Equal(producer.Truncations, records.Truncated);
            Assert.Equal(Expected(accepted), collected.Bytes.ToArray());
            Assert.Equal(generated, producer.BytesAccepted + producer.BytesLost);
        }
    }

    [Fact]
    public void Without_re_enabling_the_first_full_buffer_ends_the_trace()
    {
        var (producer, _, records, _, generated) = Run(2, 5000, 4000, 11, reenable: false, consumerPauseEvery: 3);
        using (producer)
        {
            Assert.Equal(1, producer.Truncations);
            Assert.Equal(1, records.Truncated);
            Assert.False(producer.Enabled);
            Assert.True(producer.BytesLost > generated / 2, $"lost {producer.BytesLost} of {generated}");
        }
    }

    private sealed class SnapshotCollector : IAuxConsumer
    {
        public byte[] Bytes = [];
        public void Consume(ulong auxOffset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => Bytes = [.. first, .. second];
    }

    [Theory]
    [InlineData(3000)]      // not wrapped yet: exactly what was written
    [InlineData(8192)]      // exactly full
    [InlineData(50_001)]    // wrapped many times: the newest buffer-full, oldest byte first
    public void A_snapshot_holds_the_newest_bytes_oldest_first(int written)
    {
        using var producer = new SimulatedAuxProducer(dataPages: 1, auxPages: 2, snapshot: true);
        var random = new Random(written);
        ulong position = 0;
        while (position < (ulong)written)
        {
            int length = (int)Math.Min((ulong)random.Next(1, 3000), (ulong)written - position);
            var burst = new byte[length];
            for (int i = 0; i < length; i++) burst[i] = TraceByte(position + (ulong)i);
            producer.Write(burst);
            position += (ulong)length;
        }
        producer.Disable();   // as perf does: disable, copy, enable
        var snapshot = new SnapshotCollector();
        producer.AuxRing.TakeSnapshot(snapshot);
        producer.Enable();
        int size = (int)producer.AuxRing.Size;
        int expectedLength = Math.Min(written, size);
        var expected = Enumerable.Range(written - expectedLength, expectedLength).Select(i => TraceByte((ulong)i)).ToArray();
        Assert.Equal(expected, snapshot.Bytes);
    }
}
