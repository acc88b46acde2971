using System.Text;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Cli.Trace;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>Runs `trace` and `decode` in-process over a file, and reads a recording's streams back.</summary>
internal static class TraceTestSupport
{
    public static string? MissingPrerequisite() =>
        !File.Exists("/usr/bin/gcc") && !File.Exists("/usr/local/bin/gcc") ? "gcc is not installed"
        : !File.Exists("/usr/bin/perf") && !File.Exists("/usr/local/bin/perf") ? "Linux perf is not installed" : null;

    /// <summary>
    /// `trace` with <paramref name="options"/> in this process: (exit code, stdout, stderr). With
    /// <paramref name="bracketLinesOnly"/> stdout keeps only the lines that start with '[' (skips, errors): an
    /// instruction listing of an overload run is gigabytes.
    /// </summary>
    public static (int Code, string Stdout, string Stderr) Trace(TraceOptions options, bool bracketLinesOnly = false)
    {
        Stream stdout = bracketLinesOnly ? new BracketLines() : new MemoryStream();
        var stderr = new StringWriter();
        int code = new TraceRunner(options) { Stdout = stdout, Stderr = stderr }.RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        return (code, stdout is BracketLines kept ? kept.Text : Encoding.UTF8.GetString(((MemoryStream)stdout).ToArray()), stderr.ToString());
    }

    /// <summary>A write-only stream that keeps the lines starting with '[' and drops the rest as they arrive.</summary>
    private sealed class BracketLines : Stream
    {
        private readonly MemoryStream _kept = new();
        private bool _atLineStart = true, _keeping;

        public string Text => Encoding.UTF8.GetString(_kept.ToArray());

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            foreach (byte b in buffer)
            {
                if (_atLineStart) _keeping = b == (byte)'[';
                if (_keeping) _kept.WriteByte(b);
                _atLineStart = b == (byte)'\n';
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>`trace -i FILE --format F [--show-tid T] --stat`.</summary>
    public static (int Code, string Stdout, string Stderr) TraceFile(string file, DecodeFormat format, int? tid) =>
        Trace(new TraceOptions { Record = new RecordOptions(), Input = file, Format = format, ShowTid = tid, Stat = true });

    /// <summary>`decode -i FILE --format F [--tid T]`: the saved recording decoded afterwards.</summary>
    public static string Decode(string file, DecodeFormat format, int? tid)
    {
        var stdout = new MemoryStream();
        int code = new PerfDataDecodeRunner(new DecodeOptions { Input = file, Format = format, Tid = tid }).Run(stdout, TextWriter.Null);
        Xunit.Assert.Equal(0, code);
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    /// <summary>The streams of a recording and each one's trace bytes, joined as `decode` joins them.</summary>
    public static List<(StreamKey Key, byte[] Bytes, int Segments)> Streams(string file)
    {
        PtRecording recording;
        using (var reader = PerfDataReader.Open(file)) recording = PtRecording.Load(reader);
        var result = new List<(StreamKey, byte[], int)>();
        using var handle = File.OpenHandle(file);
        foreach (TraceStream s in recording.Streams())
        {
            var bytes = new byte[s.Size];
            long at = 0;
            foreach (TraceSegment segment in s.Segments)
                foreach (AuxtraceBuffer b in segment.Buffers)
                {
                    RandomAccess.Read(handle, bytes.AsSpan((int)at, (int)b.Size), b.FileOffset);
                    at += b.Size;
                }
            result.Add((s.Key, bytes, s.Segments.Count));
        }
        return result;
    }

    private static readonly Lazy<string> Directory_ = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-trace-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } };
        return dir;
    });
    private static readonly Lazy<string> SavedControlFlow = new(() =>
    {
        string file = Path.Combine(Directory_.Value, "control_flow.data");
        var r = Tool.Run(["record", "--soft-pt", "-e", "intel_pt/psb_period=0/u", "-o", file, "--", SoftPtSamples.Path("control_flow", SoftPtBuild.Static)],
            TimeSpan.FromMinutes(2));
        if (r.ExitCode != 0 || !File.Exists(file)) throw new InvalidOperationException($"record --soft-pt failed: {r}");
        return file;
    });

    /// <summary>A software-PT recording of control_flow (static, a PSB every 2 KiB), made once per test run.</summary>
    public static string ControlFlowRecording => SavedControlFlow.Value;
}
