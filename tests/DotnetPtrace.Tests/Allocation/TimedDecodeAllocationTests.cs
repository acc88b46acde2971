using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Cli.Trace;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Live;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.LiveTrace;

namespace DotnetPtrace.Tests.Allocation;

/// <summary>
/// The timed output formats (calls, branches, JSON: block by block with the decoder's time, through the sideband
/// context and a formatter into the buffered output) allocate nothing per instruction, per block or per line, in
/// `decode` and in `trace`'s live decoder. The measure is the runtime's own count of the bytes this thread allocated
/// (<see cref="GC.GetAllocatedBytesForCurrentThread"/>): a decode of a software-PT recording of samples/softpt/busy
/// (a loop of calls) and a decode of its first tenth must allocate the same small amount.
/// </summary>
public sealed class TimedDecodeAllocationTests(ITestOutputHelper log)
{
    /// <summary>What a decode may allocate whatever its length: the decoder, its Iced decoders, buffers that grow once.</summary>
    private const long Fixed = 64 << 10;
    /// <summary>How much more the whole trace may allocate than its tenth: nothing that scales, a little slack.</summary>
    private const long Slack = 4 << 10;

    private sealed record Busy(PtRecording Recording, TraceStream Stream, byte[] Trace, int Tenth);

    private static readonly Lazy<Busy> Recording = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-alloc-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } };
        string file = Path.Combine(dir, "busy.data");
        // About 25 instructions per iteration (loop, call, mix, return): some 3e5 instructions in all, in 15 KB of
        // trace; a PSB every 2 KiB (psb_period=0) gives a place to cut near a tenth.
        var r = Tool.Run(["record", "--soft-pt", "-q", "-e", "intel_pt/psb_period=0/u", "-o", file, "--", SoftPtSamples.Path("busy", SoftPtBuild.Static), "12000"], TimeSpan.FromMinutes(3));
        if (r.ExitCode != 0 || !File.Exists(file)) throw new InvalidOperationException($"record --soft-pt failed: {r}");
        PtRecording recording;
        using (var reader = PerfDataReader.Open(file)) recording = PtRecording.Load(reader);
        var (_, bytes, segments) = Assert.Single(TraceTestSupport.Streams(file));
        Assert.Equal(1, segments);
        TraceStream stream = Assert.Single(recording.Streams());
        // The short decode ends at the first PSB past a tenth of the instructions, so both end as a trace ends.
        var psbs = new PsbLog(new StreamContext(recording.Sideband, new ImageSource(recording.BuildIds, recording.CapturedCode), recording.Conversion, stream.Key));
        PtFlowSummary all = PtTimedFlowSession.Decode(bytes, psbs.Context.Image, Config(recording), ref psbs);
        int tenth = psbs.Psbs.First(p => p.Instructions >= all.Instructions / 10).Offset;
        return new Busy(recording, stream, bytes, tenth);
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private static PtFlowConfig Config(PtRecording r) => new PtFlowConfig() with { Timing = r.Timing };

    /// <summary>Where each PSB is and how many instructions came before it.</summary>
    private struct PsbLog(StreamContext context) : IPtTimedFlowSink
    {
        public readonly StreamContext Context = context;
        public readonly List<(int Offset, long Instructions)> Psbs = [];
        private long _instructions;
        public void OnBlock(in PtBlock block) => _instructions += block.InstructionCount;
        public void OnEvent(in PtEvent ev, long offset)
        {
            Context.OnEvent(ev);
            if (ev.StatusUpdate && (Psbs.Count == 0 || Psbs[^1].Offset < (int)offset)) Psbs.Add(((int)offset, _instructions));
        }
        public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) { }
        public void OnEndOfTrace() { }
        public void OnTime(ulong tsc) => Context.OnTime(tsc);
    }

    [Theory]
    [InlineData(DecodeFormat.Calls)]
    [InlineData(DecodeFormat.Branches)]
    [InlineData(DecodeFormat.Json)]
    public void A_decode_allocates_the_same_whatever_its_length(DecodeFormat format)
    {
        if (TraceTestSupport.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        Busy busy = Recording.Value;
        var images = new ImageSource(busy.Recording.BuildIds, busy.Recording.CapturedCode);
        using var output = new StreamBufferWriter(Stream.Null);
        // One context for all decodes: its image keeps the block cache the first decode builds (as one stream's
        // segments share it in `decode`), so what is measured is the decoding, not the cache.
        var context = new StreamContext(busy.Recording.Sideband, images, busy.Recording.Conversion, busy.Stream.Key);
        var symbols = new MappingSymbols(images);
        FlowFormatter formatter = format switch
        {
            DecodeFormat.Calls => new CallsFormatter(output, symbols),
            DecodeFormat.Branches => new BranchesFormatter(output),
            _ => new JsonFormatter(output),
        };
        var sink = new StreamSink(context, formatter, new Selection(null, null, null), _ => { });

        (long Bytes, long Instructions) Decode(int length)
        {
            formatter.Begin(context);
            sink.StartSegment(busy.Stream.Segments[0], first: true);
            long before = GC.GetAllocatedBytesForCurrentThread();
            PtFlowSummary s = PtTimedFlowSession.Decode(busy.Trace.AsSpan(0, length), context.Image, Config(busy.Recording), ref sink);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, s.Errors);
            return (allocated, s.Instructions);
        }

        Decode(busy.Trace.Length);   // warm-up: JIT, the block cache, symbol tables
        var tenth = Decode(busy.Tenth);
        var whole = Decode(busy.Trace.Length);
        Report(format.ToString(), tenth, whole);
    }

    [Theory]
    [InlineData(DecodeFormat.Calls)]
    [InlineData(DecodeFormat.Branches)]
    [InlineData(DecodeFormat.Json)]
    public void A_live_decode_allocates_the_same_whatever_its_length(DecodeFormat format)
    {
        if (TraceTestSupport.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        Busy busy = Recording.Value;
        var images = new ImageSource(busy.Recording.BuildIds, busy.Recording.CapturedCode);
        using var output = new StreamBufferWriter(Stream.Null);
        var context = new StreamContext(busy.Recording.Sideband, images, busy.Recording.Conversion, busy.Stream.Key);
        var trace = new TraceOutput(output, format, new Selection(null, null, null), top: null, symFs: null);

        (long Bytes, long Instructions) Decode(int length)
        {
            // `trace`'s stream decoder, given the trace in 4 KiB chunks as a drain hands it over; a window per PSB.
            ILiveStreamSink sink = trace.Open(context, images);
            using var decoder = new LiveStreamDecoder(busy.Stream.Key, sink, context.Image, Config(busy.Recording), timed: true, maxBacklog: 16 << 20);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int at = 0; at < length; at += 4096)
                decoder.Append((ulong)at, busy.Trace.AsSpan(at, Math.Min(4096, length - at)));
            decoder.Finish();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, decoder.Counts.Errors);
            Assert.Equal(0, decoder.Counts.Skipped);
            return (allocated, decoder.Counts.Instructions);
        }

        Decode(busy.Trace.Length);
        var tenth = Decode(busy.Tenth);
        var whole = Decode(busy.Trace.Length);
        Report($"live {format}", tenth, whole);
    }

    private void Report(string what, (long Bytes, long Instructions) tenth, (long Bytes, long Instructions) whole)
    {
        log.WriteLine($"{what}: {whole.Instructions} instructions allocated {whole.Bytes} bytes; the first {tenth.Instructions} allocated {tenth.Bytes}");
        Assert.True(whole.Instructions >= 100_000, $"only {whole.Instructions} instructions");
        Assert.True(whole.Instructions >= 5 * tenth.Instructions, $"the tenth has {tenth.Instructions} of {whole.Instructions} instructions");
        Assert.True(whole.Bytes < Fixed, $"{whole.Bytes} bytes allocated for {whole.Instructions} instructions");
        Assert.True(whole.Bytes - tenth.Bytes < Slack, $"{whole.Bytes - tenth.Bytes} bytes more for {whole.Instructions - tenth.Instructions} more instructions");
    }
}
