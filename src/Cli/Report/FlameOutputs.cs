using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.Profiles;

namespace DotnetPtrace.Cli.Report;

/// <summary>Writes `report --flamegraph FILE.svg` and `--folded FILE|-` from the collected stacks, with one status line each on stderr.</summary>
public sealed class FlameOutputs(ReportOptions options, FlameInput input)
{
    public int Write()
    {
        string source = options.Input == "-" ? "stdin" : options.Input;
        if (input.Profile is not { IsEmpty: false } profile)
        {
            Console.Error.WriteLine(input.Samples == 0 && input.OtherEventSamples == 0
                ? $"dotnet-ptrace report: {source}: no samples to draw{Filtered()} (record some with: dotnet-ptrace record -g -e cpu-clock -- CMD)"
                : $"dotnet-ptrace report: {source}: no stacks to draw");
            return ReturnCode.RecordingError;
        }
        if (input.OtherEventSamples > 0)
            Console.Error.WriteLine($"dotnet-ptrace report: {source}: only event '{input.EventName}' is drawn; {input.OtherEventSamples} samples of other events left out");
        if (input.SamplesWithCallchain == 0)
            Console.Error.WriteLine($"dotnet-ptrace report: {source}: the samples have no call chains (record with -g): each stack is the sampled function alone");
        if (options.Folded is { } folded && !WriteFolded(profile, folded)) return ReturnCode.UsageError;
        if (options.FlameGraph is { } svg && !WriteSvg(profile, svg, source)) return ReturnCode.UsageError;
        return ReturnCode.Ok;
    }

    private string Filtered() => options.Pid is not null || options.Tid is not null || options.Comm is not null ? " matching --pid/--tid/--comm" : "";

    private bool WriteFolded(StackProfile profile, string path)
    {
        if (path == "-")
        {
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
            FoldedStacksWriter.Write(profile, stdout);
            return true;
        }
        if (!TryCreate(path, out var writer)) return false;
        int lines;
        using (writer) lines = FoldedStacksWriter.Write(profile, writer);
        Console.Error.WriteLine($"dotnet-ptrace report: wrote {path}: {lines:N0} stacks, weight = {Describe(profile)}");
        return true;
    }

    private bool WriteSvg(StackProfile profile, string path, string source)
    {
        if (!TryCreate(path, out var writer)) return false;
        FlameGraphSummary summary;
        using (writer)
        {
            summary = FlameGraphSvgWriter.Write(profile, writer, new FlameGraphOptions
            {
                Title = "Flame Graph",
                Subtitle = $"{Path.GetFileName(source)}: {input.Samples.ToString("N0", CultureInfo.InvariantCulture)} {input.EventName} samples; " +
                           (profile.WeightUnit == "samples" ? "frame width = sample count" : $"frame width = sum of their period ({profile.WeightUnit})"),
            });
        }
        long bytes = new FileInfo(path).Length;
        string omitted = summary.FramesOmitted > 0 ? $", {summary.FramesOmitted:N0} narrower than 0.1 px left out" : "";
        Console.Error.WriteLine($"dotnet-ptrace report: wrote {path}: {summary.FramesDrawn:N0} frames{omitted}, {bytes / 1024.0:F0} KB, weight = {Describe(profile)}");
        return true;
    }

    private string Describe(StackProfile profile) =>
        profile.WeightUnit == "samples" ? $"{input.EventName} samples" : $"{input.EventName} period ({profile.WeightUnit})";

    private static bool TryCreate(string path, out StreamWriter writer)
    {
        try
        {
            writer = new StreamWriter(path, append: false, new UTF8Encoding(false), 1 << 16);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"dotnet-ptrace report: {path}: cannot write: {e.Message}");
            writer = null!;
            return false;
        }
    }
}
