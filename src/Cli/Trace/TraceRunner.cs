using System.Diagnostics;
using System.Globalization;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Decoders.IntelPt.Live;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// Runs one `trace`: a source of perf.data records (our own recording, a simulated one, a software-PT run, or a
/// perf.data stream from -i) feeds the live decoder on its own thread, which prints as it decodes.
/// <list type="bullet">
/// <item>Recording (hardware Intel PT): the `record` pipeline as it is (poll thread drains the rings, the writer
/// thread writes the file); every record the writer writes is also handed, without waiting, to a bounded queue of
/// pooled chunks (<see cref="LiveRecordTap"/>, <see cref="LiveChunkChannel"/>) that the decoder reads. Without -o the
/// file is a temporary one, deleted at the end.</item>
/// <item>--simulate: the same, with <see cref="SimulatedTraceSource"/> in place of the kernel.</item>
/// <item>--soft-pt: software PT is produced after the fact (the command, or the -p processes until they are detached,
/// is single-stepped to its end, then each thread's execution is encoded), so the encoded recording is then read
/// through the same decoder.</item>
/// <item>-i: records are decoded as they are read, from a file or a pipe.</item>
/// </list>
/// Ctrl-C stops the source; what was queued is decoded, the output flushed, the file finished; the exit status is
/// the command's, or 130 when we were interrupted without one.
/// </summary>
public sealed class TraceRunner(TraceOptions options)
{
    private readonly List<long> _latencies = [];
    /// <summary>Set once the decoder thread has warmed up (<see cref="LiveWarmUp"/>): a live source starts then.</summary>
    private readonly ManualResetEventSlim _decoderWarm = new();

    /// <summary>Where the decoded flow goes (default: standard output); tests decode in-process.</summary>
    public Stream? Stdout { get; init; }
    /// <summary>Where the summary and warnings go (default: standard error).</summary>
    public TextWriter? Stderr { get; init; }
    private TextWriter Err => Stderr ?? Console.Error;

    public async Task<int> RunAsync(CancellationToken cancellation)
    {
        try
        {
            if (options.Simulate is not null) return await Task.Run(() => RunSimulated(cancellation), CancellationToken.None);
            if (options.Input is not null) return await Task.Run(() => RunInput(options.Input, cancellation), CancellationToken.None);
            if (options.Record.SoftPt) return await RunSoftPtAsync(cancellation);
            // Without Intel PT a recording has nothing to decode: say so and what works instead, before running anything.
            if (!new PmuCatalog().Names.Contains(IntelPtDefaultConfig.PmuName))
                throw new UsageException($"trace decodes Intel PT, and {IntelPtAvailability.WhyMissing()}; here `trace --soft-pt -- CMD` does it live after the fact, and `trace -i FILE` reads a recording");
            if (options.Record.Events.Count > 0 && !options.Record.Events.Any(e => e.StartsWith(IntelPtDefaultConfig.PmuName + "/", StringComparison.Ordinal)))
                throw new UsageException("trace decodes Intel PT: give -e intel_pt/.../ (or no -e for the default)");
            return await RunRecordingAsync(cancellation);
        }
        catch (UsageException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Fail(e.Message, ReturnCode.RecordingError); }
    }

    private int Fail(string message, int code)
    {
        Err.WriteLine($"dotnet-ptrace trace: {message}");
        return code;
    }

    /// <summary>-i FILE or -: the records as they are read.</summary>
    private int RunInput(string input, CancellationToken cancellation)
    {
        if (input != "-" && !File.Exists(input)) throw new UsageException($"cannot read {input}: no such file");
        using PerfDataReader reader = PerfDataReader.Open(input);
        if (reader.Error is { } e) throw new UsageException($"{input}: offset 0x{e.Offset:x}: {e.Message}");
        Decode(reader, null, null, null, cancellation);
        if (reader.Error is { } late) Err.WriteLine($"dotnet-ptrace trace: {input}: records end at offset 0x{late.Offset:x}: {late.Message}");
        return cancellation.IsCancellationRequested ? ReturnCode.Interrupted : ReturnCode.Ok;
    }

    /// <summary>--soft-pt: trace and encode (after the fact, as software PT must), then decode the result.</summary>
    private async Task<int> RunSoftPtAsync(CancellationToken cancellation)
    {
        string file = options.KeepFile ?? TempFile();
        try
        {
            int status = await new SoftPtRecordRunner(options.Record with { Output = file }).RunAsync(cancellation);
            if (!File.Exists(file)) return status;   // the command could not be started: already reported
            int decoded = await Task.Run(() => RunInput(file, CancellationToken.None), CancellationToken.None);
            return decoded == ReturnCode.Ok ? status : decoded;
        }
        finally
        {
            if (options.KeepFile is null) File.Delete(file);
        }
    }

    /// <summary>Hardware Intel PT: `record`, with every record also going to the live decoder.</summary>
    private async Task<int> RunRecordingAsync(CancellationToken cancellation)
    {
        string file = options.KeepFile ?? TempFile();
        var channel = new LiveChunkChannel(options.QueueBytes);
        LiveRecordTap? tap = null;
        var runner = new RecordRunner(options.Record with { Output = file })
        {
            LiveObserver = attrs => tap = new LiveRecordTap(channel, attrs),
        };
        Task<int> decoding = Task.Factory.StartNew(() => DecodeChannel(channel, null, () => tap, CancellationToken.None),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        int status;
        try
        {
            _decoderWarm.Wait(TimeSpan.FromSeconds(2));
            status = await runner.RunAsync(cancellation);
        }
        finally
        {
            // The file writer has written its last record (or never started): end the decoder's stream.
            if (tap is not null) tap.Complete();
            else channel.Complete();
        }
        await decoding;
        if (options.KeepFile is null) File.Delete(file);
        return status;
    }

    /// <summary>--simulate: the simulated kernel producer into real ring layouts, drained by the production code.</summary>
    private int RunSimulated(CancellationToken cancellation)
    {
        using var source = new SimulatedTraceSource(options.Simulate!, options.Rate, options.Burst, auxPages: 1024, options.Repeat);
        string file = options.KeepFile ?? TempFile();
        var channel = new LiveChunkChannel(options.QueueBytes);
        var stream = PerfDataWriter.CreateFile(file);
        var writer = new PerfDataWriter(stream, source.Attrs);
        var tap = new LiveRecordTap(channel, source.Attrs);
        source.PostFeatures(channel);
        var background = new BackgroundPerfDataWriter(writer, [tap]);
        Task<int> decoding = Task.Factory.StartNew(() => DecodeChannel(channel, source, () => tap, CancellationToken.None),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _decoderWarm.Wait(TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();
        try
        {
            source.Run(background, cancellation);
        }
        finally
        {
            background.WaitForWriter();
            background.Finish(source.Features(options.Record.OwnCommandLine));
            stream.Dispose();
            tap.Complete();
        }
        double produceSeconds = clock.Elapsed.TotalSeconds;
        decoding.Wait();
        if (!options.Record.Quiet)
            Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[ dotnet-ptrace trace: SIMULATED AUX producer: {source.BytesCaptured:N0} of {source.TotalBytes:N0} bytes captured in {produceSeconds:F2} s ({source.BytesCaptured / Math.Max(produceSeconds, 1e-9) / 1e6:F1} MB/s), {source.BytesLost:N0} lost in {source.Truncations} truncations; file {(options.KeepFile ?? "(temporary)")} ]"));
        if (options.KeepFile is null) File.Delete(file);
        return cancellation.IsCancellationRequested ? ReturnCode.Interrupted : ReturnCode.Ok;
    }

    private int DecodeChannel(LiveChunkChannel channel, SimulatedTraceSource? source, Func<LiveRecordTap?> tap, CancellationToken cancellation)
    {
        // Compile (and let the runtime optimise) the decode path before the trace comes: the source waits for this (half
        // a second), rather than its first bursts queueing behind unoptimised code (bench/trace/run.sh: p99 190 -> 15 ms).
        try
        {
            LiveWarmUp.Run(new TraceOutput(new StreamBufferWriter(Stream.Null), options.Format, new Selection(options.ShowTid, null, null), null, options.SymFs),
                timed: options.Format is DecodeFormat.Branches or DecodeFormat.Calls or DecodeFormat.Json, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1500));
        }
        finally { _decoderWarm.Set(); }
        using Stream input = channel.OpenReader();
        using PerfDataReader reader = PerfDataReader.Open(input, "(live)");
        if (reader.Error is { } e)
        {
            // The recording failed before its first record (already reported by it).
            if (e.Offset > 0) Err.WriteLine($"dotnet-ptrace trace: live stream: offset 0x{e.Offset:x}: {e.Message}");
            return ReturnCode.Ok;
        }
        Decode(reader, channel, source, k => tap()?.SentEnd(k), cancellation);
        return ReturnCode.Ok;
    }

    /// <summary>The decoding stage: reader to decoder to stdout, and the summary on stderr.</summary>
    private void Decode(PerfDataReader reader, LiveChunkChannel? channel, SimulatedTraceSource? source, Func<StreamKey, ulong?>? sentEnd,
        CancellationToken cancellation)
    {
        using Stream stdout = Stdout is { } given ? new NonClosingStream(given) : Console.OpenStandardOutput();
        using var output = new StreamBufferWriter(stdout);
        TopTable? top = options.Top ? new TopTable(Console.Out, live: !Console.IsOutputRedirected) : null;
        var selection = new Selection(options.ShowTid, null, null);
        var traceOutput = new TraceOutput(output, options.Format, selection, top, options.SymFs);
        bool timed = top is null && options.Format is DecodeFormat.Branches or DecodeFormat.Calls or DecodeFormat.Json;
        var decoder = new LiveTraceDecoder(traceOutput, new LiveDecoderOptions
        {
            SentEnd = sentEnd,
            Timed = timed,
            MaxBacklog = options.MaxBacklog,
            SelectStream = k => options.ShowTid is not int t || k.PerCpu || k.Tid == t,
            OwnVdso = VdsoImage.ReadOwn(),
            SymFs = options.SymFs,
        });
        LiveTraceDecoder d = decoder;
        if (source is not null) traceOutput.AfterFlush = () =>
        {
            long now = Stopwatch.GetTimestamp();
            foreach (LiveStreamDecoder s in d.Streams) source.CollectLatencies(s.Key, s.DecodedTo, now, _latencies);
        };
        long peakBuffers = 0;
        traceOutput.Observe = () => peakBuffers = Math.Max(peakBuffers, d.BufferBytes);
        using (decoder)
        {
            decoder.Run(reader, channel is null ? null : channel.Behind, cancellation);
            traceOutput.End();
            top?.ShowFinal();
            Summary(decoder, channel, traceOutput, peakBuffers);
        }
    }

    private void Summary(LiveTraceDecoder decoder, LiveChunkChannel? channel, TraceOutput output, long peakBuffers)
    {
        if (options.Record.Quiet && !options.Stat) return;
        long received = 0, decoded = 0, skipped = 0, skips = 0, insns = 0, errors = 0, resyncs = 0, peakBacklog = 0, windows = 0;
        foreach (LiveStreamDecoder s in decoder.Streams)
        {
            LiveStreamCounts c = s.Counts;
            received += c.Received; decoded += c.Decoded; skipped += c.Skipped; skips += c.Skips;
            insns += c.Instructions; errors += c.Errors; resyncs += c.Resyncs; windows += c.Windows; peakBacklog = Math.Max(peakBacklog, c.PeakBacklog);
        }
        var w = Err;
        foreach (string p in output.Problems) w.WriteLine($"dotnet-ptrace trace: missing image the trace needed: {p}");
        w.WriteLine(Invariant($"[ dotnet-ptrace trace: {decoder.Streams.Count} stream(s), {decoded + skipped:N0} bytes of trace: {decoded:N0} decoded, {skipped:N0} skipped in {skips} range(s){(skipped > 0 && options.KeepFile is not null ? " (the file keeps them)" : "")}; {insns:N0} instructions, {errors:N0} errors ]"));
        if (!options.Stat) return;
        w.WriteLine(Invariant($"trace: received {received:N0} bytes of trace, {decoder.IgnoredBytes:N0} in streams not shown; {windows} windows decoded, {resyncs} resynchronised"));
        if (channel is not null)
            w.WriteLine(Invariant($"trace: queue: peak {channel.PeakQueuedBytes:N0} of {channel.MaxQueuedBytes:N0} bytes, {channel.DroppedBytes:N0} bytes of trace dropped in {channel.DroppedChunks} chunks (decoder behind)"));
        w.WriteLine(Invariant($"trace: decoder buffers: peak {peakBuffers:N0} bytes, largest stream backlog {peakBacklog:N0} bytes; process peak RSS {PeakRssKb():N0} KiB"));
        w.WriteLine(Invariant($"trace: GC: {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} collections (gen 0/1/2), {GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms paused, {GC.GetTotalAllocatedBytes() / (1024.0 * 1024.0):F1} MiB allocated in all"));
        if (_latencies.Count > 0)
        {
            _latencies.Sort();
            double ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            w.WriteLine(Invariant($"trace: latency capture->output over {_latencies.Count} bursts: median {ms(_latencies[_latencies.Count / 2]):F2} ms, p99 {ms(_latencies[(int)Math.Min(_latencies.Count - 1, _latencies.Count * 99L / 100)]):F2} ms, max {ms(_latencies[^1]):F2} ms"));
        }
    }

    private static long PeakRssKb()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal) && long.TryParse(line[6..].Trim().Split(' ')[0], out long kb)) return kb;
        return 0;
    }

    private static string TempFile() => Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-trace-{Environment.ProcessId}-{Guid.NewGuid():N}.data");

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>A caller's stream that outlives the decode.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    }
}
