using System.Buffers.Binary;
using System.Diagnostics;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Simulation;
using Microsoft.Win32.SafeHandles;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// `trace --simulate FILE --rate BYTES/s` (hidden; for tests and benchmarks): a SIMULATION of live Intel PT on a
/// machine without it. The AUX bytes of a saved PT perf.data are replayed, paced at the given rate, through
/// <see cref="SimulatedAuxProducer"/> (one per stream: the kernel's side of an AUX ring, into memory laid out as the
/// kernel's mapping), and drained by the production code: <see cref="AuxRing.Drain"/> and <see cref="DataRing"/>
/// into <see cref="AuxtraceSink"/> and the background perf.data writer, whose records the live decoder sees through
/// <see cref="LiveRecordTap"/>. The saved file's sideband is sent first, as it was at the start of that recording.
/// Each burst's time of capture is kept, so the time until it was decoded and printed can be measured.
/// </summary>
internal sealed class SimulatedTraceSource : IDisposable
{
    private readonly List<Replay> _replays = [];
    private readonly List<(byte[] Record, int Length)> _sideband = [];
    private readonly List<FeatureData> _features = [];
    private readonly List<EventAttrEntry> _attrs = [];
    private static readonly byte[] FinishedRound = RecordBuilder.FinishedRound();
    private readonly long _rate;
    private readonly int _burst;

    /// <summary>One stream of the saved file and the simulated ring it is replayed into.</summary>
    private sealed class Replay(byte[] trace, SimulatedAuxProducer producer, int idx, int tid, int cpu, ulong reference)
    {
        /// <summary>The AUXTRACE reference of the saved stream's last buffer (perf orders and times buffers by it).</summary>
        public ulong Reference { get; } = reference;
        public byte[] Trace { get; } = trace;
        public SimulatedAuxProducer Producer { get; } = producer;
        public int Idx { get; } = idx;
        public int Tid { get; } = tid;
        public int Cpu { get; } = cpu;
        public int Position;
        /// <summary>Where each packet ends: bursts end on packet boundaries, as the hardware's do (the kernel publishes
        /// aux_head when the PMU stops, after its last whole packet).</summary>
        public int[] PacketEnds { get; } = FindPacketEnds(trace);

        /// <summary>The length of the next burst from <see cref="Position"/>: at most <paramref name="max"/> bytes
        /// when a packet ends within them, else up to the next packet end.</summary>
        public int NextBurst(int max)
        {
            int limit = Math.Min(Position + max, Trace.Length);
            int last = Array.BinarySearch(PacketEnds, limit);
            if (last < 0) last = ~last - 1;
            if (last >= 0 && PacketEnds[last] > Position) return PacketEnds[last] - Position;
            int next = Array.BinarySearch(PacketEnds, Position + 1);
            next = next < 0 ? ~next : next;
            return next < PacketEnds.Length ? PacketEnds[next] - Position : Trace.Length - Position;
        }

        private static int[] FindPacketEnds(byte[] trace)
        {
            var ends = new List<int>();
            var decoder = new Decoders.IntelPt.PtPacketDecoder(trace);
            if (decoder.SyncForward() == Decoders.IntelPt.PtStatus.Ok)
                while (decoder.Next(out _) == Decoders.IntelPt.PtStatus.Ok) ends.Add(decoder.Offset);
            if (ends.Count == 0 || ends[^1] != trace.Length) ends.Add(trace.Length);   // undecodable rest: one piece
            return [.. ends];
        }
        /// <summary>(AUX offset just after a burst, when it was captured): read by the decoder thread.</summary>
        public readonly System.Collections.Concurrent.ConcurrentQueue<(ulong End, long Ticks)> Bursts = new();
    }

    /// <param name="repeat">Each stream's trace is replayed this many times back to back: a long run out of a short
    /// recording (a software-PT trace starts with a PSB+ and tracing off, and ends with tracing off, so the copies join
    /// as the same program running again).</param>
    public SimulatedTraceSource(string path, long rate, int burst, int auxPages, int repeat = 1)
    {
        _rate = rate;
        _burst = burst;
        PtRecording recording;
        using (PerfDataReader reader = PerfDataReader.Open(path))
        {
            if (reader.Error is { } e) throw new UsageException($"{path}: offset 0x{e.Offset:x}: {e.Message}");
            foreach (EventAttrInfo a in reader.Attrs.Attrs) _attrs.Add(new EventAttrEntry(a.Attr, a.Ids, a.Name));
            _features.AddRange(reader.Features);
            while (reader.TryRead(out PerfRecord r))
            {
                if (!IsSideband(r.Type)) continue;
                _sideband.Add((r.Bytes.ToArray(), r.Bytes.Length));
            }
        }
        using (PerfDataReader reader = PerfDataReader.Open(path)) recording = PtRecording.Load(reader);
        if (_attrs.Count == 0) throw new UsageException($"{path}: no event attributes");
        IReadOnlyList<TraceStream> streams = recording.Streams();
        if (streams.Count == 0) throw new UsageException($"{path}: no Intel PT trace (AUXTRACE) to replay");
        using SafeFileHandle file = File.OpenHandle(path);
        int i = 0;
        foreach (TraceStream s in streams)
        {
            var bytes = new byte[s.Size];
            long at = 0;
            foreach (TraceSegment segment in s.Segments)
                foreach (AuxtraceBuffer b in segment.Buffers)
                {
                    RandomAccess.Read(file, bytes.AsSpan((int)at, (int)b.Size), b.FileOffset);
                    at += b.Size;
                }
            if (repeat > 1) bytes = Repeat(bytes, repeat);
            var producer = new SimulatedAuxProducer(dataPages: 16, auxPages, snapshot: false);
            _replays.Add(new Replay(bytes, producer, i++, s.Key.PerCpu ? -1 : s.Key.Tid, s.Key.PerCpu ? s.Key.Cpu : -1,
                s.Segments[^1].Buffers[^1].Reference));
        }
    }

    /// <summary>
    /// The trace <paramref name="count"/> times back to back. A software-PT trace starts with a PSB+ whose FUP says
    /// tracing is on at the entry point, and ends with tracing off (TIP.PGD at exit_group): each copy after the first
    /// is preceded by a TIP.PGE to that entry point, so the joined trace is what a program that ran again would give
    /// (time jumps back at each join; nothing reads it as an error).
    /// </summary>
    private static byte[] Repeat(byte[] trace, int count)
    {
        byte[] join = [];
        var decoder = new Decoders.IntelPt.PtPacketDecoder(trace);
        var lastIp = new Decoders.IntelPt.PtLastIp();
        if (decoder.SyncForward() == Decoders.IntelPt.PtStatus.Ok)
            while (decoder.Next(out Decoders.IntelPt.PtPacket p) == Decoders.IntelPt.PtStatus.Ok && p.Kind != Decoders.IntelPt.PtPacketKind.PsbEnd)
                if (p.Kind == Decoders.IntelPt.PtPacketKind.Fup && lastIp.Update(p) && lastIp.HasIp)
                {
                    join = new byte[9];
                    join[0] = 0xd1;   // TIP.PGE with IPBytes 6: the whole 64-bit IP follows
                    BinaryPrimitives.WriteUInt64LittleEndian(join.AsSpan(1), lastIp.Ip);
                }
        var bytes = new byte[(long)trace.Length * count + (long)join.Length * (count - 1)];
        int at = 0;
        for (int copy = 0; copy < count; copy++)
        {
            if (copy > 0)
            {
                join.CopyTo(bytes, at);
                at += join.Length;
            }
            trace.CopyTo(bytes, at);
            at += trace.Length;
        }
        return bytes;
    }

    public long TotalBytes => _replays.Sum(r => (long)r.Trace.Length);
    public IReadOnlyList<EventAttrEntry> Attrs => _attrs;
    public long BytesLost => _replays.Sum(r => (long)r.Producer.BytesLost);
    public int Truncations => _replays.Sum(r => r.Producer.Truncations);
    public long BytesCaptured => _replays.Sum(r => (long)r.Producer.BytesAccepted);

    /// <summary>Sideband kinds replayed at the start (trace, and the pipe-mode header records, are not).</summary>
    private static bool IsSideband(PerfRecordType t) =>
        (uint)t < 64 || t is PerfRecordType.AuxtraceInfo or PerfRecordType.TimeConv or PerfRecordType.AuxtraceError;

    /// <summary>The header features of the saved file, as pipe-mode HEADER_FEATURE records (CPUID, build-ids, captured code).</summary>
    public void PostFeatures(LiveChunkChannel channel)
    {
        foreach (FeatureData f in _features)
        {
            int size = 16 + ((f.Payload.Length + 7) & ~7);
            if (size > ushort.MaxValue) continue;
            byte[] chunk = LiveChunkChannel.Rent(size);
            chunk.AsSpan(0, size).Clear();
            new PerfEventHeader(PerfRecordType.HeaderFeature, 0, (ushort)size).Write(chunk);
            BinaryPrimitives.WriteUInt64LittleEndian(chunk.AsSpan(8), (ulong)f.Feature);
            f.Payload.CopyTo(chunk.AsSpan(16));
            channel.Post(chunk, size);
        }
    }

    /// <summary>
    /// Replays everything: sideband first, then the producer thread writes paced bursts while this thread drains
    /// the rings into <paramref name="background"/> until the producer is done (or <paramref name="cancellation"/>),
    /// then a last drain.
    /// </summary>
    public void Run(BackgroundPerfDataWriter background, CancellationToken cancellation)
    {
        foreach (var (record, length) in _sideband) background.Post(record.AsSpan(0, length));
        var sinks = _replays.Select(r => new AuxtraceSink(background, r.Idx, r.Cpu, r.Tid) { Reference = () => r.Reference }).ToArray();
        // The simulated kernel's PERF_RECORD_AUX notes carry no sample_id (the saved file's attrs say they would), so
        // they are drained, as the kernel needs, but not written.
        var data = new DiscardingConsumer();
        bool done = false;
        var producer = new Thread(() => { Produce(cancellation); Volatile.Write(ref done, true); }) { Name = "simulated PT producer", IsBackground = true };
        producer.Start();
        while (true)
        {
            bool last = Volatile.Read(ref done);
            long drained = 0;
            for (int i = 0; i < _replays.Count; i++)
            {
                // Data ring first: the PERF_RECORD_AUX notes of these bytes go out before them, as RingPoller does.
                _replays[i].Producer.DataRing.Drain(data);
                drained += (long)_replays[i].Producer.AuxRing.Drain(sinks[i]).Bytes;
            }
            // The end of a drain pass, as RingPoller marks it (the decoder places the pass's trace after it).
            if (drained > 0) background.Post(FinishedRound);
            if (last) break;
            if (drained == 0) Thread.Sleep(1);   // the kernel would wake us at the watermark; 1 ms stands in for it
        }
        producer.Join();
    }

    private sealed class DiscardingConsumer : IRingConsumer
    {
        public void Consume(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) { }
    }

    /// <summary>What the file's header says about the machine: the saved file's CPUID (for the errata) and one CPU.</summary>
    public PerfDataFeatures Features(IReadOnlyList<string> cmdline)
    {
        string? cpuId = null;
        foreach (FeatureData f in _features)
        {
            int o = 0;
            if (f.Feature == HeaderFeature.CpuId && FeatureParsing.TryReadString(f.Payload, ref o, out string s)) cpuId = s;
        }
        return new PerfDataFeatures { CpuId = cpuId, NrCpusOnline = 1, NrCpusAvailable = 1, Arch = "x86_64", Cmdline = [.. cmdline] };
    }

    /// <summary>The hardware's side: bursts round-robin over the streams, paced so the total follows the rate.</summary>
    private void Produce(CancellationToken cancellation)
    {
        long start = Stopwatch.GetTimestamp();
        long written = 0;
        while (!cancellation.IsCancellationRequested)
        {
            bool any = false;
            foreach (Replay r in _replays)
            {
                if (r.Position >= r.Trace.Length) continue;
                any = true;
                // Hold back until the rate allows this burst.
                while (!cancellation.IsCancellationRequested)
                {
                    double allowed = _rate * Stopwatch.GetElapsedTime(start).TotalSeconds;
                    if (written + _burst <= allowed || _rate <= 0) break;
                    double wait = (written + _burst - allowed) / _rate;
                    if (wait > 0.002) Thread.Sleep(TimeSpan.FromSeconds(wait));
                    else Thread.SpinWait(200);
                }
                int length = r.NextBurst(_burst);
                r.Producer.Write(r.Trace.AsSpan(r.Position, length));
                r.Position += length;
                written += length;
                r.Bursts.Enqueue(((ulong)r.Producer.BytesAccepted, Stopwatch.GetTimestamp()));
            }
            if (!any) break;
        }
    }

    /// <summary>
    /// Latency samples (capture to printed, in Stopwatch ticks) of the bursts of stream <paramref name="key"/> that
    /// the decoder has passed (<paramref name="decodedTo"/>, an AUX offset), taken at <paramref name="now"/>.
    /// </summary>
    public void CollectLatencies(StreamKey key, ulong decodedTo, long now, List<long> samples)
    {
        Replay? r = key.PerCpu ? _replays.FirstOrDefault(x => x.Cpu == key.Cpu) : (int)key.Idx < _replays.Count ? _replays[(int)key.Idx] : null;
        if (r is null) return;
        while (r.Bursts.TryPeek(out var b) && b.End <= decodedTo)
        {
            r.Bursts.TryDequeue(out _);
            samples.Add(now - b.Ticks);
        }
    }

    public void Dispose()
    {
        foreach (Replay r in _replays) r.Producer.Dispose();
    }
}
