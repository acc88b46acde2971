using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.Profiles;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// Writes `report --flamegraph FILE.svg` and `--folded FILE|-` from a stack profile (the samples' call chains, or the
/// calls Intel PT reconstructed), with one status line each on stderr.
/// </summary>
public sealed class FlameOutputs(string? foldedPath, string? svgPath)
{
    /// <param name="subtitle">What the graph shows and what a frame's width means.</param>
    /// <param name="weight">What one unit of weight is, for the status lines ("cpu-clock samples", "instructions").</param>
    public int Write(StackProfile profile, string subtitle, string weight)
    {
        if (foldedPath is { } folded && !WriteFolded(profile, folded, weight)) return ReturnCode.UsageError;
        if (svgPath is { } svg && !WriteSvg(profile, svg, subtitle, weight)) return ReturnCode.UsageError;
        return ReturnCode.Ok;
    }

    private static bool WriteFolded(StackProfile profile, string path, string weight)
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
        Console.Error.WriteLine($"dotnet-ptrace report: wrote {path}: {lines:N0} stacks, weight = {weight}");
        return true;
    }

    private static bool WriteSvg(StackProfile profile, string path, string subtitle, string weight)
    {
        if (!TryCreate(path, out var writer)) return false;
        FlameGraphSummary summary;
        using (writer)
        {
            summary = FlameGraphSvgWriter.Write(profile, writer, new FlameGraphOptions
            {
                Title = "Flame Graph",
                Subtitle = subtitle,
            });
        }
        long bytes = new FileInfo(path).Length;
        string omitted = summary.FramesOmitted > 0 ? $", {summary.FramesOmitted:N0} narrower than 0.1 px left out" : "";
        Console.Error.WriteLine($"dotnet-ptrace report: wrote {path}: {summary.FramesDrawn:N0} frames{omitted}, {bytes / 1024.0:F0} KB, weight = {weight}");
        return true;
    }

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
