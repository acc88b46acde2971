using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Live;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>
/// The incremental decoder alone: a software-PT trace of control_flow (a PSB every 2 KiB) handed over in chunks of
/// random sizes, down to single bytes, gives exactly the blocks, events (status updates included, with their
/// offsets), errors and time changes of one decode of the whole trace. The whole-trace decode is the session `decode`
/// runs; the point is that cutting the stream at PSBs while it arrives changes nothing.
/// </summary>
public sealed class LiveStreamDecoderTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 1, false)]
    [InlineData(2, 97, false)]
    [InlineData(3, 5000, false)]
    [InlineData(4, 700, true)]
    [InlineData(5, 20000, true)]
    public void Any_chunking_decodes_as_the_whole_trace_at_once(int seed, int maxChunk, bool timed)
    {
        if (TraceTestSupport.MissingPrerequisite() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        byte[] trace = Assert.Single(TraceTestSupport.Streams(TraceTestSupport.ControlFlowRecording)).Bytes;
        var image = new PtImage();
        PtImageLoader.AddElf(image, SoftPtSamples.Path("control_flow", SoftPtBuild.Static));
        var config = new PtFlowConfig();

        var whole = new Log();
        if (timed) PtTimedFlowSession.Decode(trace, image, config, ref whole);
        else PtFlowSession.Decode(trace, image, config, ref whole);

        var live = new Log();
        var decoder = new LiveStreamDecoder(new StreamKey(false, -1, 1, 0), live, image, config, timed, maxBacklog: 1 << 20);
        var random = new Random(seed);
        const ulong Base = 0x10000;   // AUX offsets need not start at 0
        for (int at = 0; at < trace.Length;)
        {
            int n = Math.Min(random.Next(1, maxChunk + 1), trace.Length - at);
            decoder.Append(Base + (ulong)at, trace.AsSpan(at, n));
            at += n;
        }
        decoder.Finish();

        Assert.True(whole.Lines.Count > 1000);
        Assert.Equal(whole.Lines, live.Lines.Select(l => l.Replace($"@{Base:x}+", "@")).Select(Rebase).ToList());
        Assert.Equal(trace.Length, decoder.Counts.Decoded);
        Assert.Equal(0, decoder.Counts.Skipped);
        Assert.True(decoder.Counts.Windows >= trace.Length / 2048 / 2, $"only {decoder.Counts.Windows} windows");
        output.WriteLine($"{trace.Length} bytes in chunks of up to {maxChunk}: {decoder.Counts.Windows} windows, {whole.Lines.Count} items as one decode");

        // Offsets in the live log are AUX offsets: from Base.
        static string Rebase(string line)
        {
            int at = line.LastIndexOf('@');
            return at < 0 ? line : $"{line[..(at + 1)]}{long.Parse(line[(at + 1)..]) - (long)Base}";
        }
    }

    /// <summary>What a decode reports, one line per item (time only when it changes).</summary>
    private sealed class Log : ILiveStreamSink
    {
        private ulong _time = ulong.MaxValue;
        public List<string> Lines { get; } = [];
        public void OnBlock(in PtBlock block) => Lines.Add($"block {block.Ip:x} {block.InstructionCount} {block.EndIp:x}");
        public void OnEvent(in PtEvent ev, long offset) => Lines.Add($"event {ev.Type} {ev.StatusUpdate} {ev.Ip:x} @{offset}");
        public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) => Lines.Add($"error {kind} {error} {ip:x} @{offset}");
        public void OnEndOfTrace() => Lines.Add("end");
        public void OnTime(ulong tsc)
        {
            if (tsc == _time) return;
            _time = tsc;
            Lines.Add($"time {tsc}");
        }
        public void StartSegment(bool first) { if (!first) Lines.Add("segment"); }
        public void Skipped(in LiveSkip skip) => Lines.Add($"skipped {skip.From:x}..{skip.To:x}");
        public void Decoded(ulong upTo) { }
    }
}
