using System.CommandLine;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// `dotnet-ptrace dump`: every record with its offset, like `perf report -D`. Options are built here and read into
/// a <see cref="DumpOptions"/>; adding an option means one line in each place.
/// </summary>
public static class DumpCommand
{
    public static Command Create()
    {
        var input = InputOption.Create();
        var header = new Option<bool>("--header") { Description = "Print the header and its features (like perf report --header-only), not the records" };
        var stats = new Option<bool>("--stats") { Description = "Print record counts per type (like perf report --stats) after the records" };
        var command = new Command("dump", "Print every record of a perf.data file with its offset, type and fields")
        {
            input, header, stats,
        };
        command.SetAction((ParseResult r) => new DumpRunner(new DumpOptions
        {
            Input = r.GetValue(input)!,
            HeaderOnly = r.GetValue(header),
            Stats = r.GetValue(stats),
        }).Run());
        return command;
    }
}

public sealed record DumpOptions
{
    public required string Input { get; init; }
    public bool HeaderOnly { get; init; }
    public bool Stats { get; init; }
}
