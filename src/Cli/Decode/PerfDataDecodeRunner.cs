using System.Buffers;
using System.Globalization;
using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Native;
using Microsoft.Win32.SafeHandles;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// `decode -i perf.data`: reads the recording (sideband in time order, AUXTRACE buffers by stream), decodes the
/// streams in parallel, each against the images of the processes it ran in, writes the chosen format in stream
/// order, and ends with a summary on stderr: counts, errors, gaps, lost data, and the images the trace needed but
/// that were missing (path and build-id).
/// </summary>
public sealed class PerfDataDecodeRunner(DecodeOptions options)
{
    private readonly Lock _stderrLock = new();
    private TextWriter _stderr = TextWriter.Null;

    /// <summary>For `report`: a formatter per stream from here instead of --format's (decoded with time), and the tool name in messages.</summary>
    internal Func<IBufferWriter<byte>, MappingSymbols, PtRecording, FlowFormatter>? FormatterFactory { get; init; }
    internal string Tool { get; init; } = "decode";

    public int Run(Stream stdout, TextWriter stderr)
    {
        _stderr = stderr;
        if (!TryParseTime(options.Time, out Selection selection, out string? timeError)) return Usage(timeError!);
        selection = selection with { Tid = options.Tid };
        if (options.Jobs is < 1) return Usage($"--jobs {options.Jobs}: give at least 1");

        string path = options.Input!;
        string? temp = null;
        try
        {
            if (path == "-")
            {
                // AUXTRACE payloads are read by offset after the records: keep standard input in a file.
                temp = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-decode-{Environment.ProcessId}.data");
                using (var file = File.Create(temp)) Console.OpenStandardInput().CopyTo(file);
                path = temp;
            }
            if (!File.Exists(path)) return Usage($"cannot read {path}: no such file");
            PtRecording recording;
            try
            {
                using PerfDataReader reader = PerfDataReader.Open(path);
                recording = PtRecording.Load(reader);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Usage($"cannot read {path}: {e.Message}");
            }
            return Decode(path, options.Input!, recording, selection, stdout);
        }
        finally
        {
            if (temp is not null) File.Delete(temp);
        }
    }

    private int Decode(string path, string name, PtRecording recording, Selection selection, Stream stdout)
    {
        // Nothing to decode: one line that says why (the damage that ended the records, if that is the reason).
        if (recording.Buffers.Count == 0)
        {
            return recording.ReadError is { } fatal
                ? Usage($"{name}: offset 0x{fatal.Offset:x}: {fatal.Message} (no Intel PT trace before it)")
                : Usage($"{name}: no Intel PT trace in this file (no AUXTRACE records{(recording.AuxtraceInfo is null ? ", no Intel PT AUXTRACE_INFO" : "")})");
        }
        foreach (string w in recording.Warnings) Warn($"{name}: {w}");
        if (recording.ReadError is { } error)
            Warn($"{name}: records end at offset 0x{error.Offset:x}: {error.Message}; decoding what came before");
        if (recording.AuxtraceInfo is null) Warn($"{name}: no Intel PT AUXTRACE_INFO: decoding without timing configuration or time conversion");

        if (!TryConfig(recording, out PtFlowConfig? config, out string? cpuError)) return Usage(cpuError!);
        bool timed = recording.IsTimed;
        if (!timed && (selection.From is not null || selection.To is not null))
            Warn($"{name}: the trace has no time (no tsc, or no TSC conversion recorded): --time selects nothing");

        IReadOnlyList<TraceStream> streams = recording.Streams()
            .Where(s => options.CpuStream is not int c || (s.Key.PerCpu && s.Key.Cpu == c))
            .Where(s => options.Tid is not int t || s.Key.PerCpu || s.Key.Tid == t)
            .ToList();
        if (streams.Count == 0)
            Warn(options.CpuStream is int c ? $"{name}: no trace of cpu {c} (per-CPU streams: {string.Join(", ", recording.Streams().Where(s => s.Key.PerCpu).Select(s => s.Key.Cpu))})"
                : $"{name}: no trace of thread {options.Tid}");

        var images = new ImageSource(recording.BuildIds, recording.CapturedCode, VdsoImage.ReadOwn(), options.SymFs)
        {
            Jit = Decoders.Jit.JitCodeSource.ForRecording(recording.Sideband),
        };
        var symbols = new MappingSymbols(images, options.SymFs);
        PerfTimeConversion conversion = timed ? recording.Conversion : PerfTimeConversion.None;
        bool threadHeaders = options.Tid is null;
        var results = new StreamResult[streams.Count];
        int jobs = options.Jobs ?? Environment.ProcessorCount;

        using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        // Shown when the flow goes to a file or a pipe (or -q prints none): on the terminal it would garble the flow.
        var decoded = new ProgressCounters(streams.Count);
        using var progress = new ProgressLine("decoding", streams.Sum(s => s.Segments.Sum(g => g.Size)), quiet: !options.Quiet && !Console.IsOutputRedirected) { Source = decoded.Sum };
        if (progress.Enabled) _stderr = Console.Error;   // warnings then erase the line before they are written
        using (var output = new StreamBufferWriter(stdout))
        {
            OrderedOutput.Run(output, streams.Count, jobs, (i, writer) =>
            {
                TraceStream stream = streams[i];
                var context = new StreamContext(recording.Sideband, images, conversion, stream.Key, buildImages: options.Format != DecodeFormat.Events);
                FlowFormatter? formatter = options.Quiet ? null : FormatterFactory?.Invoke(writer, symbols, recording) ?? CreateFormatter(writer, symbols, threadHeaders);
                formatter?.Begin(context);
                var sink = new StreamSink(context, formatter, selection, ReportNeededImage) { Progress = decoded, ProgressSlot = i };
                results[i] = DecodeStream(file, stream, sink, config!, selection);
                decoded.Set(i, stream.Segments.Sum(g => g.Size));
                formatter?.End();
            });
            if (options.Stat) output.Write(StatText(results, selection));
        }
        progress.Dispose();
        Summary(name, recording, streams, results, images, selection);
        return ReturnCode.Ok;
    }

    private StreamResult DecodeStream(SafeFileHandle file, TraceStream stream, StreamSink sink, PtFlowConfig config, Selection selection)
    {
        var result = new StreamResult { Stream = stream };
        bool timedSession = FormatterFactory is not null || options.Format is DecodeFormat.Branches or DecodeFormat.Calls or DecodeFormat.Json
            || selection.From is not null || selection.To is not null;
        bool first = true;
        foreach (TraceSegment segment in stream.Segments)
        {
            byte[] trace = ReadSegment(file, segment, out string? shortRead);
            if (shortRead is not null) Warn($"{stream.Key}: {shortRead}");
            sink.StartSegment(segment, first);
            first = false;
            PtFlowSummary s = options.Format == DecodeFormat.Events
                ? PtEventSession.Decode(trace, config, ref sink)
                : timedSession
                    ? PtTimedFlowSession.Decode(trace, sink.Context.Image, config, ref sink)
                    : PtFlowSession.Decode(trace, sink.Context.Image, config, ref sink);
            result.Add(s);
        }
        result.SelectedInstructions = sink.SelectedInstructions;
        result.SelectedBlocks = sink.SelectedBlocks;
        result.SelectedEvents = sink.SelectedEvents;
        return result;
    }

    /// <summary>The trace bytes of a segment, read from the file; cut short when the file is.</summary>
    private static byte[] ReadSegment(SafeFileHandle file, TraceSegment segment, out string? shortRead)
    {
        shortRead = null;
        long size = segment.Size;
        if (size > Array.MaxLength)
        {
            shortRead = $"a trace segment of {size} bytes is too large to decode in one piece; only its first {Array.MaxLength} bytes are decoded";
            size = Array.MaxLength;
        }
        var trace = new byte[size];
        long at = 0;
        foreach (AuxtraceBuffer b in segment.Buffers)
        {
            long want = Math.Min(b.Size, size - at);
            long got = 0;
            while (got < want)
            {
                int n = RandomAccess.Read(file, trace.AsSpan((int)(at + got), (int)Math.Min(want - got, 1 << 30)), b.FileOffset + got);
                if (n == 0) break;
                got += n;
            }
            if (got < want)
            {
                shortRead ??= $"AUXTRACE at 0x{b.RecordOffset:x}: the file ends {want - got} bytes into its {b.Size}-byte trace";
                return trace.AsSpan(0, (int)(at + got)).ToArray();
            }
            at += want;
            if (at == size) break;
        }
        return trace;
    }

    private FlowFormatter CreateFormatter(IBufferWriter<byte> writer, MappingSymbols symbols, bool threadHeaders) => options.Format switch
    {
        DecodeFormat.Addresses => new AddressesFormatter(writer, threadHeaders),
        DecodeFormat.Branches => new BranchesFormatter(writer),
        DecodeFormat.Calls => new CallsFormatter(writer, symbols),
        DecodeFormat.Json => new JsonFormatter(writer),
        DecodeFormat.Events => new EventsFormatter(writer),
        _ => new InsnFormatter(writer, symbols),
    };

    private bool TryConfig(PtRecording recording, out PtFlowConfig? config, out string? error)
    {
        config = null;
        error = null;
        PtFlowConfig baseConfig;
        if (options.Cpu is string cpu)
        {
            if (!PtErrata.TryParseCpu(cpu, out int f, out int m, out error)) return false;
            baseConfig = cpu == "none" ? new PtFlowConfig() : PtFlowConfig.ForCpu(f, m);
        }
        else if (recording.TryGetCpu(out int family, out int model)) baseConfig = PtFlowConfig.ForCpu(family, model);
        else
        {
            if (recording.CpuId is { } id) Warn($"cpuid '{id}' is not an Intel CPU: decoding without errata (--cpu F/M to choose)");
            baseConfig = new PtFlowConfig();
        }
        config = baseConfig with { Timing = recording.Timing };
        return true;
    }

    private static bool TryParseTime(string? text, out Selection selection, out string? error)
    {
        selection = new Selection(null, null, null);
        error = null;
        if (text is null) return true;
        string[] parts = text.Split(',');
        ulong? from = null, to = null;
        bool ok = parts.Length == 2 && Seconds(parts[0], ref from) && Seconds(parts[1], ref to);
        if (!ok || (from is ulong a && to is ulong b && a > b))
        {
            error = $"--time {text}: expected START,END in seconds of perf time (e.g. 641.2568,641.2575; either may be left out)";
            return false;
        }
        selection = new Selection(null, from, to);
        return true;

        static bool Seconds(string s, ref ulong? ns)
        {
            s = s.Trim();
            if (s.Length == 0) return true;
            if (!decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal d) || d > 18_000_000_000m) return false;
            ns = (ulong)(d * 1_000_000_000m);
            return true;
        }
    }

    private void ReportNeededImage(ImageProblem problem) =>
        Warn($"missing image the trace needs: {problem} (its instructions become \"no memory mapped\" errors; decoding resumes at the next PSB)");

    private static string StatText(StreamResult[] results, Selection selection)
    {
        var t = Total(results);
        string text = $"insn: {t.Instructions}.\nblocks: {t.Blocks}.\nevents: {t.Events}.\nerrors: {t.Errors}.\ngaps: {t.Gaps}.\noverflows: {t.Overflows}.\n";
        if (!selection.All) text += $"selected insn: {results.Sum(r => r.SelectedInstructions)}.\nselected blocks: {results.Sum(r => r.SelectedBlocks)}.\n";
        return text;
    }

    private static PtFlowSummary Total(StreamResult[] results)
    {
        var t = new PtFlowSummary();
        foreach (StreamResult r in results)
        {
            if (r is null) continue;
            t.Instructions += r.Summary.Instructions;
            t.Blocks += r.Summary.Blocks;
            t.Events += r.Summary.Events;
            t.Errors += r.Summary.Errors;
            t.Gaps += r.Summary.Gaps;
            t.Overflows += r.Summary.Overflows;
            t.TraceBytes += r.Summary.TraceBytes;
        }
        return t;
    }

    private void Summary(string name, PtRecording recording, IReadOnlyList<TraceStream> streams, StreamResult[] results, ImageSource images, Selection selection)
    {
        PtFlowSummary t = Total(results);
        int holes = streams.Sum(s => Math.Max(0, s.Segments.Count - 1));
        string kind = streams.Count == 0 ? "" : streams.All(s => s.Key.PerCpu) ? " per-CPU" : streams.Any(s => s.Key.PerCpu) ? " mixed" : " per-thread";
        var lines = new List<string>
        {
            Invariant($"decode: {name}: {streams.Count}{kind} stream(s), {t.TraceBytes:N0} bytes of trace: {t.Instructions:N0} instructions, {t.Blocks:N0} blocks, {t.Events:N0} events, {t.Errors:N0} errors, {t.Gaps + holes:N0} gaps"),
        };
        if (!selection.All)
            lines.Add(Invariant($"decode: selected ({Describe(selection)}): {results.Sum(r => r.SelectedInstructions):N0} instructions, {results.Sum(r => r.SelectedBlocks):N0} blocks, {results.Sum(r => r.SelectedEvents):N0} events"));
        var aux = recording.Sideband.Aux;
        int truncated = aux.Count(a => a.Truncated), partial = aux.Count(a => a.Partial), collision = aux.Count(a => a.Collision);
        long lost = recording.Sideband.LostRecords;
        string lostText = Invariant($"decode: lost data: {truncated} TRUNCATED and {partial} PARTIAL AUX records{(collision > 0 ? $", {collision} AUX collisions" : "")}, {t.Overflows} overflows (OVF), {holes} holes between AUXTRACE buffers{(lost > 0 ? $", {lost} LOST records ({recording.Sideband.LostEvents} events)" : "")}");
        lines.Add(lostText);
        if (!recording.IsTimed) lines.Add("decode: the trace has no time (tsc off, or no TSC conversion): sideband applied in order at tracing boundaries");
        if (images.Jit is { } jit)
        {
            foreach (string w in jit.Warnings) lines.Add($"decode: warning: jitdump: {w}");
            foreach (var h in jit.Loaded)
                lines.Add(Invariant($"decode: JIT code of pid {h.Pid} from {h.Source}: {h.Code.Count:N0} code loads ({jit.SectionsServed:N0} code pieces laid over the mappings of the decoded streams)"));
        }
        var problems = images.Problems;
        foreach (var (problem, hits) in problems.Where(p => p.Hits > 0))
            lines.Add(Invariant($"decode: missing image: {problem}; the trace needed it {hits} time(s)"));
        int unneeded = problems.Count(p => p.Hits == 0);
        if (unneeded > 0)
            lines.Add(Invariant($"decode: {unneeded} more mapped image(s) missing that the decoded trace did not need: {string.Join(", ", problems.Where(p => p.Hits == 0).Take(5).Select(p => p.Problem.Path))}{(unneeded > 5 ? ", ..." : "")}"));
        if (t.Errors > 0)
            lines.Add(Invariant($"decode: {t.Errors} error(s); each is in the output as [offset, ip: error: message] (offset in the file), and decoding resumed at the next PSB"));
        lock (_stderrLock) foreach (string l in lines) _stderr.WriteLine(Tool == "decode" ? l : Tool + l["decode".Length..]);
    }

    private static string Describe(Selection s)
    {
        var parts = new List<string>();
        if (s.Tid is int t) parts.Add($"tid {t}");
        if (s.From is not null || s.To is not null) parts.Add($"time {Sec(s.From)},{Sec(s.To)}");
        return string.Join(", ", parts);
        static string Sec(ulong? ns) => ns is ulong v ? Invariant($"{v / 1_000_000_000}.{v % 1_000_000_000:D9}") : "";
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private void Warn(string message)
    {
        lock (_stderrLock) _stderr.WriteLine($"{Tool}: warning: {message}");
    }

    private int Usage(string message)
    {
        lock (_stderrLock) _stderr.WriteLine($"{Tool}: {message}");
        return ReturnCode.UsageError;
    }

    private sealed class StreamResult
    {
        public required TraceStream Stream { get; init; }
        public PtFlowSummary Summary;
        public long SelectedInstructions, SelectedBlocks, SelectedEvents;

        public void Add(in PtFlowSummary s)
        {
            Summary.Instructions += s.Instructions;
            Summary.Blocks += s.Blocks;
            Summary.Events += s.Events;
            Summary.StatusUpdates += s.StatusUpdates;
            Summary.Errors += s.Errors;
            Summary.Gaps += s.Gaps;
            Summary.Overflows += s.Overflows;
            Summary.TraceBytes += s.TraceBytes;
        }
    }
}
