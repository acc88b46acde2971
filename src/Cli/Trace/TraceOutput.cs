using System.Buffers;
using System.Globalization;
using System.Text;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Live;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// The output side of `trace`: one formatter per stream (the formatters of `decode`, so a stream's lines are the
/// ones `decode -i FILE --format X` prints for it), all writing into one buffered stdout that is flushed after each
/// decoded chunk. Streams take turns a window at a time, so their lines interleave in pieces (every line names its
/// thread). Skipped ranges get a line of their own. With --top, no flow is printed: blocks are counted by function.
/// </summary>
internal sealed class TraceOutput(StreamBufferWriter output, DecodeFormat format, Selection selection, TopTable? top, string? symFs) : ILiveOutput
{
    private readonly List<(FlowFormatter? Formatter, StreamContext Context)> _streams = [];
    private MappingSymbols? _symbols;
    private readonly HashSet<ImageProblem> _reported = [];

    public List<string> Problems { get; } = [];
    /// <summary>Called after each flush (latency measurement of --simulate).</summary>
    public Action? AfterFlush { get; set; }
    /// <summary>Called after each flush too (memory peaks).</summary>
    public Action? Observe { get; set; }

    public ILiveStreamSink Open(StreamContext context, ImageSource images)
    {
        _symbols ??= new MappingSymbols(images, symFs);
        FlowFormatter? formatter = top is not null ? null : format switch
        {
            DecodeFormat.Addresses => new AddressesFormatter(output, threadHeaders: selection.Tid is null),
            DecodeFormat.Branches => new BranchesFormatter(output),
            DecodeFormat.Calls => new CallsFormatter(output, _symbols),
            DecodeFormat.Json => new JsonFormatter(output),
            _ => new InsnFormatter(output, _symbols),
        };
        formatter?.Begin(context);
        _streams.Add((formatter, context));
        var sink = new StreamSink(context, formatter, selection, p => { if (_reported.Add(p)) Problems.Add(p.ToString()); });
        return new TraceStreamSink(sink, formatter, output, format, top, _symbols, Flush);
    }

    public void Flush()
    {
        top?.MaybeShow();
        output.Flush();
        AfterFlush?.Invoke();
        Observe?.Invoke();
    }

    /// <summary>Every stream ended.</summary>
    public void End()
    {
        foreach (var (formatter, _) in _streams) formatter?.End();
        output.Flush();
    }
}

/// <summary>One stream's sink: the decode's <see cref="StreamSink"/>, plus the live seams (segments, skips) and --top.</summary>
internal sealed class TraceStreamSink(StreamSink inner, FlowFormatter? formatter, IBufferWriter<byte> output, DecodeFormat format, TopTable? top, MappingSymbols symbols,
    Action flush) : ILiveStreamSink
{
    /// <summary>Each window's lines go out as soon as it is decoded.</summary>
    public void Decoded(ulong upTo) => flush();

    public void OnBlock(in PtBlock block)
    {
        if (top is not null) top.Count(inner.Context, symbols, block);
        else inner.OnBlock(block);
    }

    public void OnEvent(in PtEvent ev, long offset) => inner.OnEvent(ev, offset);
    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) => inner.OnError(kind, offset, ip, error);
    public void OnEndOfTrace() => inner.OnEndOfTrace();
    public void OnTime(ulong tsc) => inner.OnTime(tsc);

    public void StartSegment(bool first)
    {
        if (!first) formatter?.Gap();
    }

    public void Skipped(in LiveSkip skip)
    {
        if (top is not null)
        {
            top.SkippedBytes += (long)skip.Bytes;
            return;
        }
        string why = skip.Reason == LiveSkipReason.Behind ? "the decoder was behind" : "these bytes did not reach the decoder";
        string text = format == DecodeFormat.Json
            ? string.Create(CultureInfo.InvariantCulture, $"{{\"type\":\"skipped\",\"stream\":\"{skip.Stream}\",\"from\":\"0x{skip.From:x}\",\"to\":\"0x{skip.To:x}\",\"bytes\":{skip.Bytes},\"reason\":\"{(skip.Reason == LiveSkipReason.Behind ? "behind" : "not-received")}\"}}\n")
            : string.Create(CultureInfo.InvariantCulture, $"[skipped {skip.Bytes} bytes of trace of {skip.Stream}, aux 0x{skip.From:x}..0x{skip.To:x}: {why}; decoding resumes at the PSB at 0x{skip.To:x}]\n");
        int n = Encoding.UTF8.GetByteCount(text);
        Encoding.UTF8.GetBytes(text, output.GetSpan(n));
        output.Advance(n);
    }
}
