using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;

namespace DotnetPtrace.Tests.Native;

/// <summary>
/// The data ring against the live kernel: a page-fault event with period 1 on this test's own thread makes one
/// sample per fault, so touching fresh pages fills a small ring at a rate the test controls.
/// </summary>
public class DataRingTests
{
    private static PerfEventHandle OpenPageFaults(bool backward = false)
    {
        var attr = new PerfEventAttr
        {
            Type = (uint)PerfType.Software,
            Config = (ulong)SoftwareEvent.PageFaults,
            SamplePeriod = 1,
            SampleType = SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Identifier,
            Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv | AttrFlags.SampleIdAll
                    | (backward ? AttrFlags.WriteBackward : 0),
        };
        // pid 0 = this thread; cpu -1 = any CPU (fine without inherit).
        return PerfEvent.Open(ref attr, 0, -1, null, "page-faults:u");
    }

    /// <summary>
    /// Touches fresh anonymous pages: one user page fault each. A new mmap every time, since malloc would hand
    /// back memory that already faulted in.
    /// </summary>
    private static unsafe void TouchPages(int pages)
    {
        int pageSize = Environment.SystemPageSize;
        nuint length = (nuint)(pages * pageSize);
        byte* mem = (byte*)Mmap(null, length, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
        Assert.True(mem != (byte*)-1, "mmap failed");
        try { for (int i = 0; i < pages; i++) mem[i * pageSize] = 1; }
        finally { Munmap(mem, length); }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mmap")]
    private static extern unsafe void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "munmap")]
    private static extern unsafe int Munmap(void* addr, nuint length);

    private struct Collector : IRecordVisitor
    {
        public List<(PerfRecordType Type, int Size, ulong Lost)> Records;
        public ulong LostTotal;

        public void Visit(in PerfEventHeader header, ReadOnlySpan<byte> record)
        {
            Assert.Equal(header.Size, record.Length);
            ulong lost = 0;
            if (header.Type == PerfRecordType.Lost)
            {
                lost = BitConverter.ToUInt64(record[16..]);
                LostTotal += lost;
            }
            Records.Add((header.Type, header.Size, lost));
        }
    }

    [Fact]
    public void Records_arrive_whole_across_the_wrap_and_the_tail_is_honoured()
    {
        using var fd = OpenPageFaults();
        // 16 pages: room for a GC on this thread (its page faults count too) between two drains.
        using var ring = DataRing.Map(fd, -1, 16);
        var collector = new Collector { Records = new(20000) };
        ring.ReadRecords(ref collector);   // JIT and first-use faults happen before counting starts
        TouchPages(1);
        PerfEvent.Enable(fd);
        int samples = 0;
        // Many small batches, each drained: positions run far past the ring's size, so records wrap its end.
        for (int round = 0; round < 200; round++)
        {
            TouchPages(50);
            ring.ReadRecords(ref collector);
        }
        PerfEvent.Disable(fd);
        ring.ReadRecords(ref collector);
        samples = collector.Records.Count(r => r.Type == PerfRecordType.Sample);
        Assert.True(ring.BytesRead > 4 * ring.Size, $"only {ring.BytesRead} bytes: the ring never wrapped");
        Assert.True(collector.LostTotal == 0, $"lost {collector.LostTotal}; {collector.Records.Count} records, bytes {ring.BytesRead}, first types {string.Join(",", collector.Records.Take(5))}");
        Assert.True(samples >= 200 * 50, $"{samples} samples for 10000 faults");
        // Every sample is the same size (IP, TID, TIME, IDENTIFIER): a torn record would show another size.
        Assert.All(collector.Records.Where(r => r.Type == PerfRecordType.Sample), r => Assert.Equal(8 + 32, r.Size));
    }

    [Fact]
    public void A_full_ring_reports_LOST_and_keeps_every_record_before_it_intact()
    {
        using var fd = OpenPageFaults();
        using var ring = DataRing.Map(fd, -1, 1);
        PerfEvent.Enable(fd);
        TouchPages(2000);   // ~80 KB of samples into a 4 KiB ring, not drained
        PerfEvent.Disable(fd);
        var collector = new Collector { Records = [] };
        ring.ReadRecords(ref collector);
        // The kernel writes LOST at the next opportunity once there is room; make room and give it one.
        PerfEvent.Enable(fd);
        TouchPages(10);
        PerfEvent.Disable(fd);
        ring.ReadRecords(ref collector);
        Assert.Contains(collector.Records, r => r.Type == PerfRecordType.Lost);
        Assert.True(collector.LostTotal > 1000, $"lost {collector.LostTotal}");
        Assert.All(collector.Records.Where(r => r.Type == PerfRecordType.Sample), r => Assert.Equal(40, r.Size));
    }

    [Fact]
    public void Drain_hands_over_whole_records_in_at_most_two_spans()
    {
        using var fd = OpenPageFaults();
        using var ring = DataRing.Map(fd, -1, 2);
        var consumer = new SplitChecker();
        ring.Drain(consumer);
        TouchPages(1);
        PerfEvent.Enable(fd);
        for (int round = 0; round < 100; round++)
        {
            TouchPages(30);
            ring.Drain(consumer);
        }
        PerfEvent.Disable(fd);
        ring.Drain(consumer);
        Assert.True(consumer.Splits > 0, "no drain wrapped the end of the ring");
        Assert.True(consumer.Records >= 3000);
    }

    private sealed class SplitChecker : IRingConsumer
    {
        public int Splits, Records;

        public void Consume(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
        {
            if (!second.IsEmpty) Splits++;
            var all = new byte[first.Length + second.Length];
            first.CopyTo(all);
            second.CopyTo(all.AsSpan(first.Length));
            int pos = 0;
            while (pos < all.Length)
            {
                var h = PerfEventHeader.Read(all.AsSpan(pos));
                Assert.True(h.Size >= 8 && pos + h.Size <= all.Length, $"record at {pos} of {all.Length} has size {h.Size}");
                pos += h.Size;
                Records++;
            }
        }
    }

    [Fact]
    public void A_backward_overwrite_ring_keeps_the_newest_records()
    {
        using var fd = OpenPageFaults(backward: true);
        using var ring = DataRing.Map(fd, -1, 1, overwrite: true, backward: true);
        PerfEvent.Enable(fd);
        TouchPages(1000);   // far more than one 4 KiB ring holds: old records are overwritten
        PerfEvent.PauseOutput(fd, true);
        var collector = new Collector { Records = [] };
        int count = ring.ReadOverwrite(ref collector);
        PerfEvent.PauseOutput(fd, false);
        PerfEvent.Disable(fd);
        // A full ring of 40-byte samples, nothing torn; and no LOST: an overwrite ring loses silently by design.
        Assert.InRange(count, (4096 / 40) - 2, 4096 / 40);
        Assert.All(collector.Records, r => Assert.Equal((PerfRecordType.Sample, 40), (r.Type, r.Size)));
        Assert.True(ring.BytesOverwritten > 0);
    }

    [Fact]
    public void Mapping_a_non_power_of_two_ring_is_refused_with_the_reason()
    {
        using var fd = OpenPageFaults();
        var e = Assert.Throws<PerfException>(() => DataRing.Map(fd, -1, 3));
        Assert.Contains("power of two", e.Message);
    }

    [Fact]
    public void Opening_for_a_missing_pid_names_the_pid()
    {
        var attr = new PerfEventAttr { Type = (uint)PerfType.Software, Config = (ulong)SoftwareEvent.TaskClock };
        var e = Assert.Throws<PerfException>(() => PerfEvent.Open(ref attr, 999_999_999, -1, null, "task-clock"));
        Assert.Contains("no such process 999999999", e.Message);
    }

    [Fact]
    public void A_hardware_event_without_a_PMU_says_so()
    {
        var attr = new PerfEventAttr { Type = (uint)PerfType.Hardware, Config = (ulong)HardwareEvent.CpuCycles, SamplePeriod = 100000 };
        if (Directory.Exists("/sys/bus/event_source/devices/cpu"))
        {
            // A machine with a PMU opens it; the error path is then not reachable here.
            using var fd = PerfEvent.Open(ref attr, 0, -1, null, "cycles");
            return;
        }
        var e = Assert.Throws<PerfException>(() => PerfEvent.Open(ref attr, 0, -1, null, "cycles", () => ["software", "tracepoint"]));
        Assert.Contains("no hardware PMU", e.Message);
        Assert.Contains("PMUs on this machine: software, tracepoint", e.Message);
    }

    [Fact]
    public void The_event_id_ioctl_returns_distinct_ids()
    {
        using var a = OpenPageFaults();
        using var b = OpenPageFaults();
        Assert.NotEqual(PerfEvent.GetId(a), PerfEvent.GetId(b));
    }
}
