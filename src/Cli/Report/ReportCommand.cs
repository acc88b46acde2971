using System.CommandLine;
using DotnetPtrace.Cli.Dump;

namespace DotnetPtrace.Cli.Report;

/// <summary>`dotnet-ptrace report`: the hottest functions (or DSOs, or commands) by self overhead, like perf report --stdio.</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var input = InputOption.Create();
        var sort = new Option<string>("--sort", "-s") { Description = "Group samples by symbol, dso or comm", DefaultValueFactory = _ => "symbol", HelpName = "KEY" };
        sort.AcceptOnlyFromAmong("symbol", "dso", "comm");
        var pid = new Option<int?>("--pid") { Description = "Only samples of this process" };
        var tid = new Option<int?>("--tid") { Description = "Only samples of this thread" };
        var comm = new Option<string?>("--comm") { Description = "Only samples of threads with this command name" };
        var children = new Option<bool>("--children") { Description = "Also show, per entry, the share of samples with it anywhere in the call chain (needs -g recordings)" };
        var command = new Command("report", "Show where samples were taken: hottest functions first") { input, sort, children, pid, tid, comm };
        command.SetAction((ParseResult r) => new ReportRunner(new ReportOptions
        {
            Input = r.GetValue(input)!,
            Sort = r.GetValue(sort)!,
            Children = r.GetValue(children),
            Pid = r.GetValue(pid),
            Tid = r.GetValue(tid),
            Comm = r.GetValue(comm),
        }).Run());
        return command;
    }
}

public sealed record ReportOptions
{
    public required string Input { get; init; }
    public string Sort { get; init; } = "symbol";
    public bool Children { get; init; }
    public int? Pid { get; init; }
    public int? Tid { get; init; }
    public string? Comm { get; init; }
}
