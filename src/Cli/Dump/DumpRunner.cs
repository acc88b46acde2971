using System.Globalization;
using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Cli.Dump;

/// <summary>Runs `dump`: streams the records to stdout; a damaged file ends with one error line and exit code 3.</summary>
public sealed class DumpRunner(DumpOptions options)
{
    public int Run()
    {
        if (!InputOption.CanOpen("dump", options.Input)) return ReturnCode.UsageError;
        using var reader = PerfDataReader.Open(options.Input);
        using var output = Utf8Output.StandardOutput();
        if (options.HeaderOnly)
        {
            if (reader.IsPipe) Drain(reader);   // pipe mode: features arrive as records
            output.Write(HeaderPrinter.Format(reader));
        }
        else
        {
            var printer = new RecordPrinter(output);
            using var progress = new ProgressLine("reading", reader.IsPipe ? 0 : (long)reader.DataSection.Size, quiet: !Console.IsOutputRedirected);
            while (reader.TryRead(out PerfRecord record))
            {
                printer.Print(record);
                progress.Update(record.Offset);
            }
            if (options.Stats) output.Write(FormatStats(reader));
        }
        output.Flush();
        foreach (var warning in reader.Warnings)
            Console.Error.WriteLine(InputOption.Describe("dump", options.Input, warning).Replace(": at offset", ": warning: at offset"));
        if (reader.Error is { } error)
        {
            Console.Error.WriteLine(InputOption.Describe("dump", options.Input, error));
            return ReturnCode.RecordingError;
        }
        return ReturnCode.Ok;
    }

    private static void Drain(PerfDataReader reader)
    {
        while (reader.TryRead(out _)) { }
    }

    /// <summary>Counts per type, in perf's "Aggregated stats" shape.</summary>
    public static string FormatStats(PerfDataReader reader)
    {
        var counts = reader.Counts().ToList();
        long total = counts.Sum(c => c.Count);
        var sb = new System.Text.StringBuilder("\nAggregated stats:\n");
        sb.Append(CultureInfo.InvariantCulture, $"{"TOTAL",20} events: {total,10}\n");
        foreach (var (type, count) in counts)
            sb.Append(CultureInfo.InvariantCulture, $"{RecordTypeNames.Short(type),20} events: {count,10}  ({100.0 * count / total,4:F1}%)\n");
        return sb.ToString();
    }
}
