using DotnetPtrace.Native;
using DotnetPtrace.Native.Simulation;

namespace DotnetPtrace.Tests.Native;

/// <summary>
/// Snapshot (overwrite) mode end to end against the simulated kernel producer: aux_head is only a position inside the
/// buffer, yet consecutive snapshots pass on each byte once and in order, a writer that went all the way round between
/// two snapshots is detected (and the bytes that survived come out oldest first), and the size limit keeps the newest
/// bytes. The expected bytes come from the generated stream itself, position by position.
/// </summary>
public class AuxSnapshotTests
{
    private const int AuxPages = 4;
    private static readonly int Size = AuxPages * Environment.SystemPageSize;

    /// <summary>The byte at trace position i: position-dependent, never zero (a zero would look like unwritten buffer).</summary>
    private static byte TraceByte(ulong i) => (byte)(((i * 2654435761UL) >> 13) | 1);

    private static byte[] Stream(ulong from, ulong to)
    {
        var bytes = new byte[to - from];
        for (ulong i = from; i < to; i++) bytes[i - from] = TraceByte(i);
        return bytes;
    }

    private sealed class Collector : IAuxConsumer
    {
        public readonly List<(ulong Offset, byte[] Bytes)> Chunks = [];
        public void Consume(ulong auxOffset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => Chunks.Add((auxOffset, [.. first, .. second]));
    }

    /// <summary>Writes the next <paramref name="count"/> stream bytes in random bursts.</summary>
    private static void Produce(SimulatedAuxProducer producer, ref ulong position, ulong count, Random random)
    {
        ulong end = position + count;
        while (position < end)
        {
            int length = (int)Math.Min((ulong)random.Next(1, 5000), end - position);
            producer.Write(Stream(position, position + (ulong)length));
            position += (ulong)length;
        }
    }

    private static AuxSnapshot Snap(SimulatedAuxProducer producer, Collector collector)
    {
        producer.Disable();   // perf's intel_pt_snapshot_start
        var result = producer.AuxRing.TakeSnapshot(collector);
        producer.Enable();    // intel_pt_snapshot_finish
        return result;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Snapshots_without_laps_pass_on_every_byte_once_and_in_order(int seed)
    {
        using var producer = new SimulatedAuxProducer(dataPages: 1, AuxPages, snapshot: true);
        var random = new Random(seed);
        var collector = new Collector();
        ulong position = 0;
        for (int i = 0; i < 40; i++)
        {
            Produce(producer, ref position, (ulong)random.Next(0, Size), random);   // less than a lap between snapshots
            var s = Snap(producer, collector);
            Assert.False(s.Lapped, $"snapshot {i} taken for a lap");
            Assert.Equal(0UL, s.Skipped);
        }
        Assert.True(position > (ulong)(8 * Size), "the buffer did not wrap often");
        // Each byte once, in order, with offsets that follow on.
        ulong expectedOffset = 0;
        foreach (var (offset, bytes) in collector.Chunks)
        {
            Assert.Equal(expectedOffset, offset);
            expectedOffset += (ulong)bytes.Length;
        }
        Assert.Equal(Stream(0, position), collector.Chunks.SelectMany(c => c.Bytes).ToArray());
    }

    [Theory]
    [InlineData(1.0)]     // exactly one lap: the head is back where it was
    [InlineData(1.5)]
    [InlineData(1.999)]
    [InlineData(7.25)]
    public void A_lap_between_snapshots_is_reported_and_the_newest_buffer_comes_out_oldest_first(double laps)
    {
        using var producer = new SimulatedAuxProducer(dataPages: 1, AuxPages, snapshot: true);
        var random = new Random(5);
        var collector = new Collector();
        ulong position = 0;
        Produce(producer, ref position, (ulong)(Size / 3), random);
        var first = Snap(producer, collector);
        Assert.False(first.Lapped);
        ulong written = (ulong)(laps * Size);
        Produce(producer, ref position, written, random);
        var second = Snap(producer, collector);
        Assert.True(second.Lapped);
        Assert.Equal((ulong)Size, second.Bytes);
        Assert.Equal(Stream(position - (ulong)Size, position), collector.Chunks[^1].Bytes);
        // The offset says at least how much was lost: exactly, when it was less than two laps.
        ulong lost = written - (ulong)Size;
        if (laps < 2) Assert.Equal(first.Bytes + lost, collector.Chunks[^1].Offset);
        else Assert.True(collector.Chunks[^1].Offset <= first.Bytes + lost);

        // And the next snapshot follows on exactly again.
        Produce(producer, ref position, 1000, random);
        var third = Snap(producer, collector);
        Assert.False(third.Lapped);
        Assert.Equal(Stream(position - 1000, position), collector.Chunks[^1].Bytes);
    }

    [Fact]
    public void A_first_snapshot_near_the_end_of_an_unwrapped_buffer_holds_no_zeros()
    {
        // perf's probe (the last 512 words not all zero) would take this buffer for wrapped and copy its unwritten end.
        using var producer = new SimulatedAuxProducer(dataPages: 1, AuxPages, snapshot: true);
        var collector = new Collector();
        ulong position = 0;
        Produce(producer, ref position, (ulong)Size - 100, new Random(1));
        var s = Snap(producer, collector);
        Assert.False(s.Lapped);
        Assert.Equal(Stream(0, position), collector.Chunks.Single().Bytes);
    }

    [Fact]
    public void Nothing_new_gives_no_chunk()
    {
        using var producer = new SimulatedAuxProducer(dataPages: 1, AuxPages, snapshot: true);
        var collector = new Collector();
        Assert.Equal(0UL, Snap(producer, collector).Bytes);
        ulong position = 0;
        Produce(producer, ref position, 5000, new Random(2));
        Snap(producer, collector);
        var again = Snap(producer, collector);
        Assert.Equal(0UL, again.Bytes);
        Assert.False(again.Lapped);
        Assert.Single(collector.Chunks);
    }

    [Fact]
    public void The_size_limit_keeps_the_newest_bytes_and_counts_the_rest()
    {
        using var producer = new SimulatedAuxProducer(dataPages: 1, AuxPages, snapshot: true);
        producer.AuxRing.SnapshotLimit = 3000;
        var collector = new Collector();
        ulong position = 0;
        var random = new Random(3);
        Produce(producer, ref position, 10_000, random);
        var s = Snap(producer, collector);
        Assert.Equal(7000UL, s.Skipped);
        Assert.Equal(Stream(7000, 10_000), collector.Chunks[^1].Bytes);
        Assert.Equal(7000UL, collector.Chunks[^1].Offset);
        Produce(producer, ref position, 2000, random);
        s = Snap(producer, collector);
        Assert.Equal(0UL, s.Skipped);
        Assert.Equal(Stream(10_000, 12_000), collector.Chunks[^1].Bytes);
    }

    [Fact]
    public void With_a_sync_pattern_a_continuing_snapshot_starts_at_the_previous_ones_last_sync_point()
    {
        // What perf's decoder needs to stitch snapshots (it decodes each from its first PSB and matches that PSB with
        // the previous buffer's last): the repeat starts exactly there and the offset says so.
        byte[] psb = [2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82];
        using var producer = new SimulatedAuxProducer(dataPages: 1, AuxPages, snapshot: true);
        producer.AuxRing.SyncPattern = psb;
        var collector = new Collector();
        byte[] stream = Stream(0, 9000);
        psb.CopyTo(stream, 1000);
        psb.CopyTo(stream, 4000);
        psb.CopyTo(stream, 7500);
        producer.Write(stream.AsSpan(0, 5000));
        Snap(producer, collector);
        producer.Write(stream.AsSpan(5000, 1000));   // no PSB in these: the next one repeats from 4000 again
        Snap(producer, collector);
        producer.Write(stream.AsSpan(6000, 3000));
        var third = Snap(producer, collector);
        Assert.Equal([(0UL, 5000), (4000UL, 2000), (4000UL, 5000)], collector.Chunks.Select(c => (c.Offset, c.Bytes.Length)));
        Assert.Equal(stream[4000..9000], collector.Chunks[2].Bytes);
        Assert.Equal(new AuxSnapshot(6000, 3000, false, 0), third);   // the new bytes start where the last chunk ended
        Assert.Equal(9000UL, producer.AuxRing.BytesDrained);
    }

    [Fact]
    public void Snapshots_taken_while_the_producer_runs_on_another_thread_lose_nothing_they_did_not_report()
    {
        // The producer writes as fast as it can; the consumer snapshots (disable, copy, enable) every few hundred
        // microseconds. Bytes written while disabled are dropped by the producer (as the PMU is stopped); of the
        // accepted stream, every byte appears once and in order except across snapshots flagged as laps.
        using var producer = new SimulatedAuxProducer(dataPages: 1, auxPages: 16, snapshot: true);
        var accepted = new List<byte>();
        var gate = new object();   // a burst and its bookkeeping are one step, as for the kernel
        var done = false;
        var thread = new Thread(() =>
        {
            var random = new Random(9);
            ulong position = 0;
            for (int b = 0; b < 4000; b++)
            {
                int length = random.Next(1, 3000);
                var burst = Stream(position, position + (ulong)length);
                position += (ulong)length;
                lock (gate)
                    if (producer.Write(burst) > 0) accepted.AddRange(burst);
            }
            Volatile.Write(ref done, true);
        });
        var collector = new Collector();
        var results = new List<(AuxSnapshot Result, int AcceptedAt)>();
        thread.Start();
        while (!Volatile.Read(ref done))
        {
            Thread.SpinWait(2000);
            int acceptedAt;
            lock (gate)
            {
                producer.Disable();
                acceptedAt = accepted.Count;
            }
            results.Add((producer.AuxRing.TakeSnapshot(collector), acceptedAt));
            producer.Enable();
        }
        thread.Join();
        producer.Disable();
        results.Add((producer.AuxRing.TakeSnapshot(collector), accepted.Count));
        Assert.True(results.Count > 10, $"only {results.Count} snapshots");

        // Replay: each snapshot's bytes must be exactly the accepted bytes since the previous one (or its newest
        // buffer-full after a lap).
        int chunk = 0, previousEnd = 0;
        foreach (var (result, acceptedAt) in results)
        {
            if (result.Bytes == 0) { Assert.Equal(previousEnd, acceptedAt); continue; }
            int newBytes = acceptedAt - previousEnd;
            Assert.Equal(newBytes >= producer.AuxRing.Size.AsInt(), result.Lapped);
            int expectedLength = Math.Min(newBytes, producer.AuxRing.Size.AsInt());
            Assert.Equal(accepted.GetRange(acceptedAt - expectedLength, expectedLength), collector.Chunks[chunk++].Bytes);
            previousEnd = acceptedAt;
        }
        Assert.Equal(collector.Chunks.Count, chunk);
    }
}

internal static class SizeExtensions
{
    public static int AsInt(this ulong value) => checked((int)value);
}
