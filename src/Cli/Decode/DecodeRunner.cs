using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Decoders.IntelPt;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>Loads the trace and its image, decodes, prints the flow in the chosen format and the counts.</summary>
public sealed class DecodeRunner(DecodeOptions options)
{
    private ProgressLine? _progress;

    public int Run(Stream stdout, TextWriter stderr)
    {
        string cpu = options.Cpu ?? "none";
        if (!PtErrata.TryParseCpu(cpu, out int family, out int model, out string? cpuError))
        {
            stderr.WriteLine($"decode: {cpuError}");
            return ReturnCode.UsageError;
        }
        PtFlowConfig config = cpu == "none" ? new PtFlowConfig() : PtFlowConfig.ForCpu(family, model);
        if (cpu != "none" && !PtErrata.TryForCpu(family, model, out _))
            stderr.WriteLine($"decode: warning: no errata known for cpu {cpu}; decoding as for a CPU without any");

        byte[] trace;
        try
        {
            trace = File.ReadAllBytes(options.Trace!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"decode: cannot read {options.Trace}: {e.Message}");
            return ReturnCode.UsageError;
        }

        var image = new PtImage();
        try
        {
            LoadImage(image);
        }
        catch (PtImageException e)
        {
            stderr.WriteLine($"decode: {e.Message}");
            return ReturnCode.UsageError;
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"decode: {e.Message}");
            return ReturnCode.UsageError;
        }
        if (image.Count == 0)
            stderr.WriteLine("decode: warning: no code given (--image, --elf, --memdump): every instruction fetch will fail");
        return Decode(trace, image, config, stdout, stderr);
    }

    private void LoadImage(PtImage image)
    {
        {
            foreach (string spec in options.Images) PtImageLoader.AddRawSpec(image, spec);
            foreach (string spec in options.Elves) AddElf(image, spec);
            foreach (string spec in options.MemoryDumps)
            {
                int colon = spec.LastIndexOf(':');
                if (colon <= 0 || colon == spec.Length - 1) throw new UsageException($"--memdump {spec}: expected PAGES.dump:PAGES.addr");
                PtImageLoader.AddMemoryDump(image, spec[..colon], spec[(colon + 1)..]);
            }
        }
    }

    private int Decode(byte[] trace, PtImage image, PtFlowConfig config, Stream stdout, TextWriter stderr)
    {
        // Shown when the flow goes to a file or a pipe (or -q prints none): on the terminal it would garble the flow.
        using var progress = new ProgressLine("decoding", trace.Length, quiet: !options.Quiet && !Console.IsOutputRedirected);
        _progress = progress.Enabled ? progress : null;
        if (progress.Enabled) stderr = Console.Error;   // warnings then erase the line before they are written
        PtFlowSummary summary;
        using (var output = new StreamBufferWriter(stdout))
        {
            if (TryDecodeInSegments(trace, image, config, output, stderr) is { } parallel) summary = parallel;
            else summary = options.Quiet ? Decode(trace, image, config, new CountingSink())
                : options.Format switch
                {
                    DecodeFormat.Addresses => Decode(trace, image, config, new PtxedTextSink(output)),
                    DecodeFormat.Events => Decode(trace, image, config, new PtxedTextSink(output) { EventsOnly = true }),
                    DecodeFormat.Branches => Decode(trace, image, config, new BranchTextSink(output)),
                    _ => Decode(trace, image, config, new InsnTextSink(output, new PtInstructionReader(image))),
                };
            if (options.Stat)
            {
                output.Write($"insn: {summary.Instructions}.\nblocks: {summary.Blocks}.\nevents: {summary.Events}.\n" +
                    $"errors: {summary.Errors}.\ngaps: {summary.Gaps}.\noverflows: {summary.Overflows}.\n");
            }
        }
        progress.Dispose();
        if (summary.Errors > 0)
            stderr.WriteLine($"decode: {summary.Errors} error(s); each is in the output as [offset, ip: error: message], and decoding resumed at the next PSB");
        return ReturnCode.Ok;
    }

    private PtFlowSummary Decode<TSink>(byte[] trace, PtImage image, PtFlowConfig config, TSink sink) where TSink : IPtFlowSink
    {
        var counted = new FlowProgressSink<TSink>(sink, _progress);
        return PtFlowSession.Decode(trace, image, config, ref counted);
    }

    /// <summary>Traces shorter than this decode on one thread: cutting them costs more than it saves.</summary>
    private const int MinBytesToCut = 256 << 10;
    private const int BytesPerSegment = 16 << 10;

    /// <summary>
    /// Decodes a long trace in PSB-delimited segments on several threads, output in order, when that gives exactly the
    /// sequential decode: first a check pass (blocks only, cheap) proves every segment reaches the next cut without an
    /// error; then each segment is decoded with its output (each thread has its own image: block caches are not
    /// shared). Null when the trace is short, the format keeps state across blocks (branches), or the check fails;
    /// the caller then decodes sequentially.
    /// </summary>
    private PtFlowSummary? TryDecodeInSegments(byte[] trace, PtImage image, PtFlowConfig config, StreamBufferWriter output, TextWriter stderr)
    {
        // By default only the instruction listing is cut: disassembly is CPU-bound, while the address and event
        // listings are bound by copying their text, which a second thread only adds to. -j N asks for it anyway.
        int jobs = options.Jobs ?? (options.Format == DecodeFormat.Insn && !options.Quiet ? Environment.ProcessorCount : 1);
        if (jobs <= 1 || trace.Length < MinBytesToCut || (!options.Quiet && options.Format == DecodeFormat.Branches)) return null;
        // Output is written in segment order and a segment may run only a bounded amount ahead of the one being
        // written: segments small enough for their text to fit in that allowance keep every thread busy.
        int segments = options.Quiet ? jobs * 4 : Math.Clamp(trace.Length / BytesPerSegment, jobs * 4, 8192);
        List<PtCutPoint> cuts = PtSegments.Choose(PtSegments.FindCutPoints(trace), trace.Length, segments);
        if (cuts.Count == 0) return null;
        int count = cuts.Count + 1;
        int Start(int i) => i == 0 ? 0 : cuts[i - 1].Psb;
        // Past the next cut's PSB+ far enough to reach its FUP IP: up to the PSB after it (the decoder goes on past
        // where the sink stops listening, so the slice must not run further than that).
        int[] ends = new int[count];
        for (int i = 0; i < count; i++)
        {
            int after = i == count - 1 ? -1 : PtSync.Forward(trace, cuts[i].PsbEnd);
            ends[i] = after < 0 ? trace.Length : after + PtSync.PsbSize;
        }
        int End(int i) => ends[i];
        int DropBefore(int i) => i == 0 ? 0 : cuts[i - 1].PsbEnd - Start(i);
        int StopAt(int i) => i == count - 1 ? int.MaxValue : cuts[i].Psb - Start(i);
        ulong StopIp(int i) => i == count - 1 ? ulong.MaxValue : cuts[i].Ip;

        using var images = new ThreadLocal<PtImage>(() => { var im = new PtImage(); LoadImage(im); return im; });
        var trusted = new bool[count];
        int Length(int i) => (i == count - 1 ? trace.Length : Start(i + 1)) - Start(i);
        if (_progress is not null) _progress.Activity = "checking PSB cuts";
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = jobs }, i =>
        {
            var sink = new PtSegmentSink<CountingSink>(new CountingSink(), DropBefore(i), StopAt(i), StopIp(i));
            PtFlowSession.Decode(trace.AsSpan(Start(i), End(i) - Start(i)), images.Value!, config, ref sink, sink.Stop);
            trusted[i] = sink.Errors == 0 && (sink.Stopped || i == count - 1);
            _progress?.Add(Length(i));
        });
        if (_progress is not null) _progress.Activity = "decoding";
        _progress?.Update(0);
        if (trusted.Any(t => !t))
        {
            stderr.WriteLine($"decode: {trusted.Count(t => !t)} of {count} PSB segments cannot be cut cleanly (an error or a return across a cut): decoding on one thread");
            return null;
        }
        stderr.WriteLine($"decode: {count} PSB segments on {Math.Min(jobs, count)} threads");

        var counts = new PtSegmentCounts[count];
        OrderedOutput.Run(output, count, jobs, (i, writer) =>
        {
            PtImage im = images.Value!;
            ReadOnlySpan<byte> slice = trace.AsSpan(Start(i), End(i) - Start(i));
            counts[i] = options.Quiet ? Segment(slice, im, config, new CountingSink(), i)
                : options.Format switch
                {
                    DecodeFormat.Addresses => Segment(slice, im, config, new PtxedTextSink(writer), i),
                    DecodeFormat.Events => Segment(slice, im, config, new PtxedTextSink(writer) { EventsOnly = true }, i),
                    _ => Segment(slice, im, config, new InsnTextSink(writer, new PtInstructionReader(im)), i),
                };
            _progress?.Add(Length(i));
        });
        return new PtFlowSummary
        {
            TraceBytes = trace.Length,
            Instructions = counts.Sum(c => c.Instructions),
            Blocks = counts.Sum(c => c.Blocks),
            Events = counts.Sum(c => c.Events),
            Overflows = counts.Sum(c => c.Overflows),
        };

        PtSegmentCounts Segment<TSink>(ReadOnlySpan<byte> slice, PtImage im, PtFlowConfig cfg, TSink inner, int i) where TSink : IPtFlowSink
        {
            var sink = new PtSegmentSink<TSink>(inner, DropBefore(i), StopAt(i), StopIp(i));
            PtFlowSession.Decode(slice, im, cfg, ref sink, sink.Stop);
            return new PtSegmentCounts(sink.Instructions, sink.Blocks, sink.Events, sink.Overflows);
        }
    }

    private readonly record struct PtSegmentCounts(long Instructions, long Blocks, long Events, long Overflows);

    private static void AddElf(PtImage image, string spec)
    {
        int colon = spec.LastIndexOf(':');
        if (colon > 0 && PtImageLoader.TryNumber(spec[(colon + 1)..], out ulong address))
            PtImageLoader.AddElf(image, spec[..colon], address);
        else
            PtImageLoader.AddElf(image, spec);
    }

    private struct CountingSink : IPtFlowSink
    {
        public readonly void OnBlock(in PtBlock block) { }
        public readonly void OnEvent(in PtEvent ev, long offset) { }
        public readonly void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) { }
        public readonly void OnEndOfTrace() { }
    }
}
