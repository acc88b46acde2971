using System.Buffers;
using System.Globalization;
using System.Text;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Decoders.Calls;
using DotnetPtrace.Decoders.Profiles;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Cli.Report;

/// <summary>What `report` on an Intel PT recording needs.</summary>
public sealed record PtReportOptions
{
    public required string Input { get; init; }
    public bool Children { get; init; }
    public string? Time { get; init; }
    public int? Tid { get; init; }
    /// <summary>Write folded stacks here (weights: instructions, or ns with <see cref="FoldedByTime"/>).</summary>
    public string? Folded { get; init; }
    public bool FoldedByTime { get; init; }
    /// <summary>Write an SVG flame graph here (same weights as <see cref="Folded"/>).</summary>
    public string? FlameGraph { get; init; }
    /// <summary>--children: calls below this share (percent) of their thread's instructions are left out.</summary>
    public double PercentLimit { get; init; } = 0.1;
    /// <summary>Rows of the hottest-functions table.</summary>
    public int Top { get; init; } = 40;
    /// <summary>null: colours when standard output is a terminal and NO_COLOR is not set.</summary>
    public bool? Color { get; init; }
}

/// <summary>A stream's calls into a calling-context tree per thread, added to the shared profile when the stream ends.</summary>
internal sealed class PtReportFormatter(IBufferWriter<byte> output, MappingSymbols symbols, PtRecording recording, PtProfile profile)
    : PtCallFormatter(output, symbols, recording.Sideband)
{
    private readonly Dictionary<int, (int Pid, CallTreeBuilder Builder)> _builders = [];

    protected override ICallSink CreateSink(int tid)
    {
        var builder = new CallTreeBuilder(Functions.NameOf);
        _builders[tid] = (Context.Pid, builder);
        return builder;
    }

    protected override void Finish()
    {
        lock (profile)
            foreach (var (tid, (pid, builder)) in _builders)
                profile.Add(pid, tid, recording.Sideband.CommOf(tid), builder.Finish());
        _builders.Clear();
    }
}

/// <summary>
/// `report` on a perf.data with Intel PT and no samples: every call of every thread is known, so the report is exact
/// in instructions (and as fine in time as the trace's timing): the hottest functions by self instructions with
/// their time, and with --children the call tree. Colours only on a terminal, never with NO_COLOR.
/// </summary>
public sealed class PtReportRunner(PtReportOptions options)
{
    /// <summary>True when the file has Intel PT (AUXTRACE) and no samples: the report to give is this one.</summary>
    public static bool IsPtOnly(string path)
    {
        try
        {
            using PerfDataReader reader = PerfDataReader.Open(path);
            while (reader.TryRead(out PerfRecord r))
                if (r.Type == PerfRecordType.Sample) return false;
            return reader.Count(PerfRecordType.Auxtrace) > 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return false;
        }
    }

    public int Run(Stream stdout, TextWriter stderr)
    {
        var profile = new PtProfile();
        var decode = new PerfDataDecodeRunner(new DecodeOptions { Input = options.Input, Time = options.Time, Tid = options.Tid, Format = DecodeFormat.Calls })
        {
            FormatterFactory = (writer, symbols, recording) => new PtReportFormatter(writer, symbols, recording, profile),
            Tool = "report",
        };
        int rc = decode.Run(Stream.Null, stderr);
        if (rc != ReturnCode.Ok) return rc;
        if (options.Folded is not null || options.FlameGraph is not null)
            return WriteProfile(profile, stderr);
        bool color = options.Color ?? (!Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR")));
        byte[] text = Encoding.UTF8.GetBytes(PtReportPrinter.Format(profile, options.Children, options.Top, color, options.PercentLimit / 100));
        stdout.Write(text);
        stdout.Flush();
        return ReturnCode.Ok;
    }

    /// <summary>
    /// Folded stacks and the flame graph from the reconstructed calls: a stack per distinct path of calls (threads
    /// merged), weighted by the instructions (or ns) its last function ran itself.
    /// </summary>
    private int WriteProfile(PtProfile calls, TextWriter stderr)
    {
        string unit = options.FoldedByTime ? "ns" : "instructions";
        var stacks = new StackProfile(unit);
        foreach (var (stack, insns, ns) in calls.Folded())
            stacks.Add(stack, options.FoldedByTime ? ns : insns);
        if (stacks.IsEmpty)
        {
            stderr.WriteLine($"dotnet-ptrace report: {options.Input}: the trace decoded to no calls: nothing written");
            return ReturnCode.RecordingError;
        }
        string subtitle = $"{Path.GetFileName(options.Input)}: Intel PT, every call; frame width = {(options.FoldedByTime ? "time (ns)" : "instructions")} spent in it";
        return new FlameOutputs(options.Folded, options.FlameGraph).Write(stacks, subtitle, $"Intel PT {unit}");
    }
}
