// AUX drain benchmark against the SimulatedAuxProducer (a simulation of the kernel's producer; no Intel PT here).
//   dotnet run -c Release --project bench/AuxDrain [-- seconds [file]]   (default file on tmpfs: the disk is not measured)
// 1. Throughput: the producer writes 64 KiB bursts as fast as it can into a 4 MiB AUX area; the consumer drains
//    into PERF_RECORD_AUXTRACE records written to a real perf.data through the background writer.
// 2. Per-drain latency: time of each AuxRing.Drain that moved bytes (copy into the writer's queue included).
// 3. Overload: a consumer that drains every 2 ms against a producer of ~4 GB/s, with and without re-enabling the
//    event after each drain: the bytes lost.
using System.Diagnostics;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Simulation;

double seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 3;
string file = args.Length > 1 ? args[1] : "/dev/shm/aux-bench.data";

long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
int gen2Before = GC.CollectionCount(2);
var (bytes, elapsed, latencies) = Throughput(seconds, file);
Console.WriteLine($"allocated during the run: {(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1024} KiB, gen2 GCs: {GC.CollectionCount(2) - gen2Before}");
latencies.Sort();
Console.WriteLine($"throughput: {bytes / elapsed.TotalSeconds / (1 << 30):F2} GiB/s drained into {file} ({bytes / (1 << 20)} MiB in {elapsed.TotalSeconds:F2} s, final flush included)");
Console.WriteLine($"per-drain latency: median {Percentile(latencies, 0.5):F1} us, p99 {Percentile(latencies, 0.99):F1} us, max {latencies[^1]:F1} us over {latencies.Count} drains");
foreach (bool reenable in new[] { true, false })
{
    var (generated, lostBytes, truncations) = Overload(reenable);
    Console.WriteLine($"overload, re-enable {(reenable ? "on " : "off")}: lost {lostBytes / (1 << 20)} of {generated / (1 << 20)} MiB ({100.0 * lostBytes / generated:F1}%), {truncations} truncations");
}

static double Percentile(List<double> sorted, double p) => sorted[(int)Math.Min(sorted.Count - 1, p * sorted.Count)];

static (long Bytes, TimeSpan Elapsed, List<double> Latencies) Throughput(double seconds, string file)
{
    using var producer = new SimulatedAuxProducer(dataPages: 64, auxPages: 1024, snapshot: false);
    var attr = new PerfEventAttr { Type = 8, Size = PerfEventAttr.SizeVer7, SampleType = SampleType.Ip | SampleType.Tid };
    using var stream = PerfDataWriter.CreateFile(file);
    var writer = new PerfDataWriter(stream, [new EventAttrEntry(attr, [1], "intel_pt//u (simulated)")]);
    var background = new BackgroundPerfDataWriter(writer, []);
    var sink = new AuxtraceSink(background, idx: 0, cpu: 0);
    var burst = new byte[64 * 1024];
    new Random(1).NextBytes(burst);
    bool stop = false;
    // As fast as the consumer allows: a disabled (full) producer waits for the re-enable instead of producing.
    var thread = new Thread(() =>
    {
        while (!Volatile.Read(ref stop))
            if (producer.Enabled) producer.Write(burst); else Thread.SpinWait(64);
    });
    var latencies = new List<double>(1 << 16);
    var records = new AuxRecordSkipper();
    thread.Start();
    var clock = Stopwatch.StartNew();
    long drained = 0;
    while (clock.Elapsed.TotalSeconds < seconds)
    {
        long t0 = Stopwatch.GetTimestamp();
        var d = producer.AuxRing.Drain(sink);
        if (d.Bytes > 0)
        {
            latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
            drained += (long)d.Bytes;
        }
        producer.DataRing.ReadRecords(ref records);
    }
    Volatile.Write(ref stop, true);
    thread.Join();
    drained += (long)producer.AuxRing.Drain(sink).Bytes;
    background.Finish(new PerfDataFeatures());
    var elapsed = clock.Elapsed;   // includes the final flush to the file
    return (drained, elapsed, latencies);
}

static (ulong Generated, ulong Lost, int Truncations) Overload(bool reenable)
{
    using var producer = new SimulatedAuxProducer(dataPages: 64, auxPages: 256, snapshot: false, reenableOnDrain: reenable);
    var burst = new byte[64 * 1024];
    new Random(2).NextBytes(burst);
    ulong generated = 0;
    bool stop = false;
    var thread = new Thread(() =>
    {
        var clock = Stopwatch.StartNew();
        long sent = 0;
        while (!Volatile.Read(ref stop))
        {
            // ~4 GB/s: one 64 KiB burst every 16 us, paced.
            if (clock.Elapsed.TotalMicroseconds < sent * 16) continue;
            producer.Write(burst);
            generated += (ulong)burst.Length;
            sent++;
        }
    });
    var sink = new NullAux();
    var records = new AuxRecordSkipper();
    thread.Start();
    var total = Stopwatch.StartNew();
    while (total.Elapsed.TotalSeconds < 1)
    {
        producer.AuxRing.Drain(sink);
        producer.DataRing.ReadRecords(ref records);
        Thread.Sleep(2);
    }
    Volatile.Write(ref stop, true);
    thread.Join();
    return (generated, producer.BytesLost, producer.Truncations);
}

sealed class NullAux : IAuxConsumer
{
    public void Consume(ulong auxOffset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) { }
}

struct AuxRecordSkipper : IRecordVisitor
{
    public void Visit(in PerfEventHeader header, ReadOnlySpan<byte> record) { }
}
