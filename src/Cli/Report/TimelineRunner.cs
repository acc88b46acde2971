using System.Globalization;
using DotnetPtrace.Cli.Decode;

namespace DotnetPtrace.Cli.Report;

/// <summary>What `report --timeline` needs.</summary>
public sealed record TimelineOptions
{
    public required string Input { get; init; }
    public required string Output { get; init; }
    /// <summary>START,END in seconds of perf time (decode's --time syntax); null: all.</summary>
    public string? Time { get; init; }
    public int? Tid { get; init; }
    /// <summary>At most this many slices and instants (metadata is never cut); 0: no cap.</summary>
    public long MaxEvents { get; init; } = TimelineRunner.DefaultMaxEvents;
}

/// <summary>
/// `report --timeline FILE.json`: decodes the Intel PT of a perf.data (as `decode` does, streams in parallel, output
/// in stream order) into a Chrome Trace Event file: one track per thread, a nested slice per call. The file is
/// written as it goes; a failure removes it.
/// </summary>
public sealed class TimelineRunner(TimelineOptions options)
{
    /// <summary>About 150 MB of JSON: the size the Perfetto UI and chrome://tracing still open comfortably.</summary>
    public const long DefaultMaxEvents = 1_000_000;

    public int Run(TextWriter stderr)
    {
        var budget = new TimelineBudget(options.MaxEvents);
        var decode = new PerfDataDecodeRunner(new DecodeOptions { Input = options.Input, Time = options.Time, Tid = options.Tid, Format = DecodeFormat.Calls })
        {
            FormatterFactory = (writer, symbols, recording) => new TimelineFormatter(writer, symbols, recording, budget),
            Tool = "report",
        };
        FileStream file;
        try
        {
            file = File.Create(options.Output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"report: cannot write {options.Output}: {e.Message}");
            return ReturnCode.UsageError;
        }
        int rc;
        long size;
        using (file)
        {
            file.Write("{\"traceEvents\":[\n"u8);
            rc = decode.Run(new FirstByteDroppingStream(file, (byte)','), stderr);
            file.Write("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"source\":\"dotnet-ptrace report --timeline\",\"time\":\"perf time\"}}\n"u8);
            size = file.Length;
        }
        if (rc != ReturnCode.Ok)
        {
            File.Delete(options.Output);
            return rc;
        }
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"report: timeline: {budget.Written:N0} events ({size / 1e6:F1} MB) written to {options.Output}: open it in https://ui.perfetto.dev or chrome://tracing"));
        if (budget.Dropped > 0)
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"report: timeline cut at --max-events {budget.MaxEvents:N0}: {budget.Dropped:N0} more events left out (the calls that ended last, outer ones included); use --time START,END for a part of the trace, or --max-events 0 for all"));
        return rc;
    }

    /// <summary>Passes bytes through, except the first byte written if it is <paramref name="drop"/> (the first event's separator).</summary>
    private sealed class FirstByteDroppingStream(Stream inner, byte drop) : Stream
    {
        private bool _first = true;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_first && buffer.Length > 0)
            {
                _first = false;
                if (buffer[0] == drop) buffer = buffer[1..];
            }
            inner.Write(buffer);
        }

        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
