using System.Globalization;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Events;
using DotnetPtrace.Native.Simulation;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.SoftPtEncoder;

namespace DotnetPtrace.Tests.AuxRecording;

/// <summary>
/// The recorder's AUX path with a real program's trace in it: the Intel PT bytes of a single-stepped run of
/// softpt_libc (ground truth from the encoder tests' independent stepper) are fed to the simulated kernel producer in
/// random bursts, read back through the production AuxRing (full trace with many wraps, or snapshots) and
/// AuxtraceSink into a per-thread perf.data; Linux perf's own Intel PT decoder must list exactly the executed
/// instructions, with no decode error.
/// </summary>
public sealed class SimulatedPtPerfTests(ITestOutputHelper output) : IDisposable
{
    private const uint PtType = 8;
    private const uint Pid = 4242;
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-auxsim-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string? Missing() => SoftPtTestSupport.MissingPrerequisite()
        ?? (File.Exists(Perf.Executable) ? null : "Linux perf is not installed (apt-get install linux-perf)");

    [Theory]
    [InlineData(1, 1)]     // a 4 KiB AUX area: the trace wraps it several times
    [InlineData(1, 2)]
    public void Full_trace_through_a_small_wrapping_buffer_decodes_to_the_ground_truth(int auxPages, int seed)
    {
        if (Missing() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        var (run, pt, options) = Trace();
        string path = Path.Combine(_dir, $"full-{auxPages}.data");
        int records;
        using (var producer = new SimulatedAuxProducer(dataPages: 1, auxPages, snapshot: false))
        {
            records = Write(path, run, options, snapshot: false, sink =>
            {
                var random = new Random(seed);
                var ring = producer.AuxRing;
                var bursts = new Bursts(pt, random, (int)ring.Size);
                for (int at = 0; at < pt.Length;)
                {
                    int length = bursts.Next(at);
                    // A consumer that keeps up: drain when the burst would not fit (the kernel would truncate) and now
                    // and then anyway, so drains end at every kind of position.
                    ulong free = ring.Size - (ulong)(producer.BytesAccepted - ring.BytesDrained);
                    if ((ulong)length > free || random.Next(4) == 0) ring.Drain(sink);
                    Assert.Equal(length, producer.Write(pt.AsSpan(at, length)));
                    at += length;
                }
                ring.Drain(sink);
                Assert.Equal(0, producer.Truncations);
                Assert.True(ring.BytesDrained > 3 * ring.Size, $"the buffer did not wrap often ({pt.Length} bytes of trace)");
                Assert.Equal((ulong)pt.Length, ring.BytesDrained);
            });
        }
        AssertPerfListsTheGroundTruth(path, run, records);
    }

    [Theory]
    [InlineData(0)]    // one snapshot, at the end
    [InlineData(3)]    // and three more on the way (SIGUSR2)
    [InlineData(12)]
    public void Snapshots_of_a_buffer_that_holds_the_whole_trace_decode_to_the_ground_truth(int extraSnapshots)
    {
        if (Missing() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        var (run, pt, options) = Trace();
        int pages = 1;
        while ((long)pages * Environment.SystemPageSize < pt.Length) pages *= 2;
        string path = Path.Combine(_dir, $"snapshot-{extraSnapshots}.data");
        int records;
        using (var producer = new SimulatedAuxProducer(dataPages: 1, pages, snapshot: true))
        {
            producer.AuxRing.SyncPattern = IntelPtPsb.Bytes;   // as `record --snapshot` sets it
            records = Write(path, run, options, snapshot: true, sink =>
            {
                var random = new Random(extraSnapshots);
                var points = Enumerable.Range(0, extraSnapshots).Select(_ => random.Next(pt.Length)).Order().ToList();
                var bursts = new Bursts(pt, random, 6000);
                for (int at = 0; at < pt.Length;)
                {
                    int length = bursts.Next(at);
                    Assert.Equal(length, producer.Write(pt.AsSpan(at, length)));
                    at += length;
                    while (points.Count > 0 && points[0] <= at)
                    {
                        points.RemoveAt(0);
                        producer.Disable();
                        Assert.False(producer.AuxRing.TakeSnapshot(sink).Lapped);
                        producer.Enable();
                    }
                }
                producer.Disable();
                Assert.False(producer.AuxRing.TakeSnapshot(sink).Lapped);
                Assert.Equal((ulong)pt.Length, producer.AuxRing.BytesDrained);
            });
        }
        AssertPerfListsTheGroundTruth(path, run, records);
    }

    /// <summary>
    /// Random bursts that end on packet boundaries, as the hardware's do: the kernel publishes aux_head when the PMU
    /// stops, after its last whole packet. (A cut inside a packet plus perf's zero padding of each AUXTRACE would be a
    /// different trace.) Packet boundaries come from our packet decoder; only the cut points depend on it.
    /// </summary>
    private sealed class Bursts(byte[] pt, Random random, int max)
    {
        private readonly int[] _ends = PacketEnds(pt);

        public int Next(int at)
        {
            // The last packet end within a random length, or the next packet end when none is.
            int limit = Math.Min(at + random.Next(1, max + 1), pt.Length);
            int last = Array.BinarySearch(_ends, limit);
            if (last < 0) last = ~last - 1;
            if (last >= 0 && _ends[last] > at) return _ends[last] - at;
            int next = Array.BinarySearch(_ends, at + 1);
            return _ends[next < 0 ? ~next : next] - at;
        }

        private static int[] PacketEnds(byte[] pt)
        {
            var decoder = new Decoders.IntelPt.PtPacketDecoder(pt);
            Assert.Equal(Decoders.IntelPt.PtStatus.Ok, decoder.SyncForward());
            Assert.Equal(0, decoder.Offset);
            var ends = new List<int>();
            while (decoder.Next(out _) == Decoders.IntelPt.PtStatus.Ok) ends.Add(decoder.Offset);
            Assert.Equal(pt.Length, ends[^1]);
            return [.. ends];
        }
    }

    /// <summary>
    /// The program's trace with every packet kind the encoder has (TSC, MTC, CYC, a PSB every 2 KiB, no return
    /// compression): about 30 times the bytes of a bare trace, so that even a one-page AUX area wraps many times.
    /// </summary>
    private static (SoftPtTestSupport.Recorded Run, byte[] Pt, SoftPtOptions Options) Trace()
    {
        var run = SoftPtTestSupport.Record("softpt_libc");
        var options = new SoftPtOptions { Cyc = true, RetCompression = false, PsbPeriod = 0 };
        return (run, SoftPtTestSupport.Encode(run, options).Bytes, options);
    }

    /// <summary>
    /// A per-thread perf.data as `record --per-thread -e intel_pt//u` lays it out: the intel_pt and sideband attrs,
    /// AUXTRACE_INFO (per_cpu_mmaps 0, the snapshot flag), COMM and MMAP2 for the code, then the AUXTRACE records
    /// <paramref name="produce"/> sends through an <see cref="AuxtraceSink"/> (idx 0, the thread's tid, cpu -1).
    /// Returns the number of AUXTRACE records in the file, read back with our reader.
    /// </summary>
    private static int Write(string path, SoftPtTestSupport.Recorded run, SoftPtOptions options, bool snapshot, Action<IAuxConsumer> produce)
    {
        var ptAttr = new PerfEventAttr
        {
            Type = PtType, Size = PerfEventAttr.SizeVer7, Config = options.Config, SamplePeriod = 1,
            SampleType = SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Identifier, ReadFormat = ReadFormat.Id,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv,
        };
        var dummy = new PerfEventAttr
        {
            Type = (uint)PerfType.Software, Size = PerfEventAttr.SizeVer7, Config = (ulong)SoftwareEvent.Dummy, SamplePeriod = 1,
            SampleType = ptAttr.SampleType,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.Mmap | AttrFlags.Mmap2 | AttrFlags.Comm | AttrFlags.Task | AttrFlags.ExcludeKernel,
        };
        using (var file = PerfDataWriter.CreateFile(path))
        {
            var writer = new PerfDataWriter(file, [new EventAttrEntry(ptAttr, [1], "intel_pt//u"), new EventAttrEntry(dummy, [2], "dummy:u")]);
            var background = new BackgroundPerfDataWriter(writer, []);
            var builder = new RecordBuilder(ptAttr.SampleType);
            // perf time is the encoder's TSC (shift 0, mult 1, zero 0), as in `record --soft-pt` files.
            background.Post(RecordBuilder.TimeConv(0, 1, 0, 0, 0, capUserTimeZero: true, capUserTimeShort: false), default);
            background.Post(options.ApplyTo(new IntelPtAuxtraceInfo
            {
                PmuType = PtType, PerCpuMmaps = false, Snapshot = snapshot, TimeShift = 0, TimeMult = 1, TimeZero = 0, CapUserTimeZero = true,
            }).ToRecord(), default);
            var trailer = new SampleIdTrailer(Pid, Pid, 0, 2, 0, 0);
            background.Post(builder.Comm(Pid, Pid, "softpt_libc", exec: true, trailer), default);
            foreach (var region in run.Recording.AddressSpaces[0].Regions)
                background.Post(builder.Mmap2(Pid, Pid, region.Start, (ulong)region.Bytes.Length, region.FileOffset, 0, 0, 0,
                    prot: 5, flags: 2, region.Path, [], PerfRecordMisc.User, trailer), default);
            background.Post(RecordBuilder.FinishedRound(), default);
            // The reference is the TSC at copy time: at or after the last packet copied, here the end of the run.
            ulong end = options.TscOf(run.Thread.TimeOf(run.Thread.Steps.Count - 1) + 1);
            produce(new AuxtraceSink(background, idx: 0, cpu: -1, tid: (int)Pid) { Reference = () => end });
            background.Post(RecordBuilder.FinishedRound(), default);
            background.Finish(new PerfDataFeatures { CpuId = "GenuineIntel,6,85,7", NrCpusOnline = 1, NrCpusAvailable = 1, Arch = "x86_64" });
        }
        using var reader = PerfDataReader.Open(path);
        while (reader.TryRead(out _)) { }
        Assert.Null(reader.Error);
        return (int)reader.Count(PerfRecordType.Auxtrace);
    }

    private void AssertPerfListsTheGroundTruth(string path, SoftPtTestSupport.Recorded run, int records)
    {
        if (Environment.GetEnvironmentVariable("AUXSIM_KEEP") is { Length: > 0 } keep) File.Copy(path, Path.Combine(keep, Path.GetFileName(path)), true);
        var r = Perf.Run("script", "-i", path, "--itrace=i0ns", "-F", "ip");
        Perf.AssertClean(r, allowLost: false);
        var ips = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => ulong.Parse(l.Trim(), NumberStyles.HexNumber)).ToList();
        SoftPtTestSupport.AssertSameAddresses(run.Instructions, ips, $"perf on {Path.GetFileName(path)}");
        var errors = Perf.Run("script", "-i", path, "--itrace=e");
        Perf.AssertClean(errors, allowLost: false);
        Assert.Equal("", errors.Stdout.Trim());
        output.WriteLine($"perf lists all {ips.Count} instructions from {records} AUXTRACE records ({new FileInfo(path).Length} bytes)");

        // Our decoder on the same file: the same instructions, once each, whatever the buffers' padding and the
        // bytes successive snapshots repeat.
        var ours = Tool.Run(["decode", "-i", path, "--format", "addresses"]);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        var lines = ours.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(lines, l => l.StartsWith('['));
        var decoded = lines.Where(l => !l.StartsWith('#')).Select(l => ulong.Parse(l.Trim(), NumberStyles.HexNumber)).ToList();
        SoftPtTestSupport.AssertSameAddresses(run.Instructions, decoded, $"decode -i {Path.GetFileName(path)}");
    }
}
