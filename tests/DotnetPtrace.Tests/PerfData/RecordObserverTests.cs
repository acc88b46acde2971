using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using Xunit;

namespace DotnetPtrace.Tests.PerfData;

public sealed class RecordObserverTests
{
    private const int Pid = 77;

    private static void Feed(IRecordObserver observer, byte[] records)
    {
        int position = 0;
        while (RecordWalker.TryNext(records, ref position, out PerfEventHeader header, out ReadOnlySpan<byte> record))
            observer.OnRecord(header, record);
        Assert.Equal(records.Length, position);
    }

    [Fact]
    public void Statistics_count_types_samples_and_loss()
    {
        var stats = new RecordStatistics();
        Feed(stats, TestRecords.Concat(
            TestRecords.Comm(Pid, Pid, "a", 1),
            TestRecords.Sample(Pid, Pid, 0x1000, 2),
            TestRecords.Sample(Pid, Pid, 0x1000, 3),
            TestRecords.Lost(lost: 17, time: 4),
            TestRecords.Lost(lost: 3, time: 5),
            TestRecords.LostSamples(lost: 9, time: 6)));

        Assert.Equal(6, stats.Records);
        Assert.Equal(2, stats.Samples);
        Assert.Equal(1, stats.Count(PerfRecordType.Comm));
        Assert.Equal(2, stats.LostRecords);
        Assert.Equal(20UL, stats.LostEvents);
        Assert.Equal(9UL, stats.LostSamples);
        Assert.Equal(1, stats.Count(PerfRecordType.LostSamples));
    }

    [Fact]
    public void The_collector_lists_only_hit_binaries_with_their_build_ids()
    {
        var collector = new BuildIdCollector(TestRecords.Attrs());
        byte[] inlineId = Enumerable.Range(1, 20).Select(i => (byte)i).ToArray();
        Feed(collector, TestRecords.Concat(
            TestRecords.Mmap2(Pid, Pid, 0x1000, 0x1000, 0, "/bin/hit", 1),
            TestRecords.Mmap2(Pid, Pid, 0x4000, 0x1000, 0, "/bin/missed", 2),
            TestRecords.Mmap2(Pid, Pid, 0x8000, 0x2000, 0, "/lib/inline.so", 3, inlineId),
            TestRecords.Sample(Pid, Pid, 0x1800, 10),
            TestRecords.Sample(Pid, Pid, 0x1801, 11),
            TestRecords.Sample(Pid, Pid, 0x9fff, 12),
            TestRecords.Sample(Pid, Pid, 0x3000, 13),           // in no mapping
            TestRecords.Sample(Pid + 1, Pid + 1, 0x1800, 14),   // another process: not mapped there
            TestRecords.Sample(Pid, Pid, 0xffffffff81000000, 15, cpuMode: PerfRecordMisc.Kernel)));

        Assert.Equal(6, collector.Samples);
        Assert.Equal(4, collector.ResolvedSamples);
        byte[] kernelId = [0xaa, 0xbb];
        var asked = new List<string>();
        IReadOnlyList<BuildIdEntry> entries = collector.Collect(name => { asked.Add(name); return [0x11, 0x22, 0x33]; }, kernelId);

        Assert.Equal(["/bin/hit"], asked);  // the inline build-id needs no file
        Assert.Collection(entries,
            e => Assert.Equal(new BuildIdEntry(-1, PerfRecordMisc.Kernel, kernelId, "[kernel.kallsyms]"), e with { BuildId = kernelId }),
            e => { Assert.Equal("/bin/hit", e.Filename); Assert.Equal(PerfRecordMisc.User, e.CpuMode); Assert.Equal([0x11, 0x22, 0x33], e.BuildId); },
            e => { Assert.Equal("/lib/inline.so", e.Filename); Assert.Equal(inlineId, e.BuildId); Assert.Equal(-1, e.Pid); });
    }

    [Fact]
    public void Kernel_samples_hit_modules_or_the_kernel_image()
    {
        const ulong Text = 0xffffffff81000000, Module = 0xffffffffc0000000;
        byte[] kernelId = [1, 2, 3, 4];
        var withMaps = new BuildIdCollector(TestRecords.Attrs());
        Feed(withMaps, TestRecords.Concat(
            TestRecords.KernelMmap(Text, 0x2000000, "[kernel.kallsyms]_text"),
            TestRecords.KernelMmap(Module, 0x10000, "/lib/modules/6.1.0/kernel/fs/ext4/ext4.ko"),
            TestRecords.KernelMmap(Module + 0x10000, 0x10000, "/lib/modules/6.1.0/kernel/net/unused.ko"),
            TestRecords.Sample(Pid, Pid, Text + 0x1234, 1, cpuMode: PerfRecordMisc.Kernel),
            TestRecords.Sample(Pid, Pid, Module + 0x10, 2, cpuMode: PerfRecordMisc.Kernel)));

        IReadOnlyList<BuildIdEntry> entries = withMaps.Collect(_ => [9, 9], kernelId);
        Assert.Equal(["[kernel.kallsyms]", "/lib/modules/6.1.0/kernel/fs/ext4/ext4.ko"], entries.Select(e => e.Filename));
        Assert.All(entries, e => Assert.Equal(PerfRecordMisc.Kernel, e.CpuMode));
        Assert.Equal(kernelId, entries[0].BuildId);

        // Without any kernel MMAP (a recorder that does not synthesise them) the kernel is still credited.
        var withoutMaps = new BuildIdCollector(TestRecords.Attrs());
        Feed(withoutMaps, TestRecords.Sample(Pid, Pid, Text, 1, cpuMode: PerfRecordMisc.Kernel));
        Assert.Equal(["[kernel.kallsyms]"], withoutMaps.Collect(_ => null, kernelId).Select(e => e.Filename));
        Assert.Empty(withoutMaps.Collect(_ => null, kernelBuildId: null));
    }

    [Fact]
    public void The_collector_follows_forks_and_replaced_mappings()
    {
        var collector = new BuildIdCollector(TestRecords.Attrs());
        Feed(collector, TestRecords.Concat(
            TestRecords.Mmap2(Pid, Pid, 0x10000, 0x10000, 0, "/bin/old", 1),
            // The middle of /bin/old is remapped: /bin/new replaces it there, /bin/old remains on both sides.
            TestRecords.Mmap2(Pid, Pid, 0x14000, 0x4000, 0, "/bin/new", 2),
            TestRecords.Fork(Pid + 5, Pid, 3),
            TestRecords.Sample(Pid + 5, Pid + 5, 0x15000, 4),  // child sees the parent's mappings
            TestRecords.Sample(Pid, Pid, 0x1c000, 5)));

        Assert.Equal(["/bin/new", "/bin/old"], collector.HitDsoNames().Order());

        var onlyNew = new BuildIdCollector(TestRecords.Attrs());
        Feed(onlyNew, TestRecords.Concat(
            TestRecords.Mmap2(Pid, Pid, 0x10000, 0x10000, 0, "/bin/old", 1),
            TestRecords.Mmap2(Pid, Pid, 0x14000, 0x4000, 0, "/bin/new", 2),
            TestRecords.Sample(Pid, Pid, 0x17fff, 3)));
        Assert.Equal(["/bin/new"], onlyNew.HitDsoNames());
    }

    [Fact]
    public void When_layouts_differ_samples_are_parsed_with_the_attr_their_identifier_names()
    {
        const ulong SwitchId = 303;
        EventAttrEntry[] attrs =
        [
            TestRecords.Attrs()[0],
            new(new PerfEventAttr
            {
                Type = (uint)PerfType.Software,
                Config = (ulong)SoftwareEvent.ContextSwitches,
                SampleType = SampleType.Identifier | SampleType.Tid | SampleType.Time | SampleType.Cpu,  // no IP
                Flags = AttrFlags.SampleIdAll,
            }, [SwitchId], "cs"),
        ];
        var collector = new BuildIdCollector(attrs);

        // A context-switch sample: IDENTIFIER, {pid, tid}, time, {cpu, res}. Read with the cpu-clock layout, its
        // {pid, tid} would be taken for an IP inside /bin/x and its time for the pid that mapped it.
        var switchSample = new byte[40];
        new PerfEventHeader(PerfRecordType.Sample, PerfRecordMisc.User, 40).Write(switchSample);
        BinaryPrimitives.WriteUInt64LittleEndian(switchSample.AsSpan(8), SwitchId);
        BinaryPrimitives.WriteUInt64LittleEndian(switchSample.AsSpan(16), 0x1800);
        BinaryPrimitives.WriteUInt64LittleEndian(switchSample.AsSpan(24), Pid);

        Feed(collector, TestRecords.Concat(
            TestRecords.Mmap2(Pid, Pid, 0x1000, 0x1000, 0, "/bin/x", 1),
            switchSample,
            TestRecords.Sample(Pid, Pid, 0x1800, 2, id: 999)));  // an id no attr has: cannot be parsed
        Assert.Empty(collector.HitDsoNames());

        Feed(collector, TestRecords.Sample(Pid, Pid, 0x1800, 3, id: TestRecords.CpuClockId));
        Assert.Equal(["/bin/x"], collector.HitDsoNames());
    }

    [Fact]
    public void Observers_and_the_writer_allocate_nothing_per_record()
    {
        EventAttrEntry[] attrs = TestRecords.Attrs();
        var collector = new BuildIdCollector(attrs);
        var stats = new RecordStatistics();
        byte[] mmaps = TestRecords.Concat(
            TestRecords.Mmap2(Pid, Pid, 0x1000, 0x1000, 0, "/bin/a", 1),
            TestRecords.Mmap2(Pid, Pid, 0x4000, 0x1000, 0, "/bin/b", 2));
        byte[] samples = TestRecords.Concat(Enumerable.Range(0, 1000)
            .Select(i => TestRecords.Sample(Pid, Pid, i % 2 == 0 ? 0x1100UL : 0x4100UL, (ulong)i)).ToArray());
        Feed(collector, mmaps);
        Feed(stats, samples);
        Feed(collector, samples);  // warm up

        string path = Path.Combine(Path.GetTempPath(), $"ptrace-alloc-{Guid.NewGuid():N}.data");
        try
        {
            using FileStream file = PerfDataWriter.CreateFile(path);
            var writer = new PerfDataWriter(file, attrs);
            writer.WriteData(samples);

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int round = 0; round < 10; round++)
            {
                FeedAll(samples, collector, stats);
                writer.WriteData(samples);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 1024, $"{allocated} bytes allocated for 10,000 records");
            Assert.Equal(11_000, stats.Samples);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void FeedAll(byte[] records, IRecordObserver first, IRecordObserver second)
    {
        int position = 0;
        while (RecordWalker.TryNext(records, ref position, out PerfEventHeader header, out ReadOnlySpan<byte> record))
        {
            first.OnRecord(header, record);
            second.OnRecord(header, record);
        }
    }

    [Fact]
    public void The_walker_steps_over_auxtrace_payloads_and_stops_at_garbage()
    {
        var auxtrace = new byte[48 + 16];
        new PerfEventHeader(PerfRecordType.Auxtrace, 0, 48).Write(auxtrace);
        auxtrace[8] = 16;  // u64 size of the AUX payload following the record
        byte[] data = TestRecords.Concat(auxtrace, TestRecords.Comm(1, 1, "x", 1), [1, 0, 0, 0, 0, 0, 4, 0]);

        int position = 0;
        Assert.True(RecordWalker.TryNext(data, ref position, out PerfEventHeader h1, out ReadOnlySpan<byte> r1));
        Assert.Equal(PerfRecordType.Auxtrace, h1.Type);
        Assert.Equal(48, r1.Length);
        Assert.Equal(64, position);
        Assert.True(RecordWalker.TryNext(data, ref position, out PerfEventHeader h2, out _));
        Assert.Equal(PerfRecordType.Comm, h2.Type);
        int bad = position;
        Assert.False(RecordWalker.TryNext(data, ref position, out _, out _));  // size 4 < header
        Assert.Equal(bad, position);
    }

    [Fact]
    public void The_background_writer_writes_every_posted_chunk_then_refuses_more()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ptrace-bg-{Guid.NewGuid():N}.data");
        try
        {
            var stats = new RecordStatistics();
            using (FileStream file = PerfDataWriter.CreateFile(path))
            {
                var writer = new PerfDataWriter(file, TestRecords.Attrs());
                var background = new BackgroundPerfDataWriter(writer, [stats], capacityInChunks: 1);
                byte[] sample = TestRecords.Sample(Pid, Pid, 0x1000, 1);
                for (int i = 0; i < 2000; i++)
                {
                    byte[] buffer = background.RentBuffer(sample.Length);
                    sample.CopyTo(buffer, 0);
                    background.Post(new RecordChunk(buffer, sample.Length));
                }
                background.Finish(new PerfDataFeatures());
                Assert.Equal(2000, background.ChunksPosted);
                Assert.Equal(2000L * sample.Length, writer.DataSize);
                Assert.Throws<InvalidOperationException>(() => background.Post(new byte[8]));
                Assert.False(background.TryPost(new RecordChunk(new byte[8], 8)));
            }
            Assert.Equal(2000, stats.Samples);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
