using System.CommandLine;
using DotnetPtrace.Cli.Dump;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// `dotnet-ptrace report`: the hottest functions (or DSOs, or commands) by self overhead, like perf report --stdio;
/// with --flamegraph/--folded, the samples' call stacks as a flame graph or folded stacks instead.
/// </summary>
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
        var children = new Option<bool>("--children") { Description = "Also show, per entry, the share of samples with it anywhere in the call chain (needs -g recordings); on a terminal, also a call tree" };
        var tree = new Option<bool>("--tree") { Description = "Print the call tree of the hottest paths even when the output is not a terminal" };
        var flamegraph = new Option<string?>("--flamegraph") { Description = "Write the call stacks as a self-contained SVG flame graph (zoom, search, tooltips) instead of the table", HelpName = "FILE.svg" };
        var folded = new Option<string?>("--folded") { Description = "Write the call stacks as folded stacks ('a;b;c 12' per line, for flamegraph.pl, inferno, speedscope); '-' for stdout", HelpName = "FILE" };
        var weight = new Option<string>("--weight") { Description = "What --flamegraph/--folded count: samples, or the sum of their period (ns for cpu-clock/task-clock)", DefaultValueFactory = _ => "samples", HelpName = "samples|period" };
        weight.AcceptOnlyFromAmong("samples", "period");
        var command = new Command("report", "Show where samples were taken: hottest functions first, a call tree, or a flame graph")
        {
            input, sort, children, tree, flamegraph, folded, weight, pid, tid, comm,
        };
        command.SetAction((ParseResult r) => new ReportRunner(new ReportOptions
        {
            Input = r.GetValue(input)!,
            Sort = r.GetValue(sort)!,
            Children = r.GetValue(children),
            Tree = r.GetValue(tree),
            FlameGraph = r.GetValue(flamegraph),
            Folded = r.GetValue(folded),
            Weight = r.GetValue(weight)!,
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
    /// <summary>Print the call tree whatever stdout is (by default only with --children on a terminal).</summary>
    public bool Tree { get; init; }
    /// <summary>SVG flame graph path; with <see cref="Folded"/>, replaces the table.</summary>
    public string? FlameGraph { get; init; }
    /// <summary>Folded stacks path, or "-" for stdout.</summary>
    public string? Folded { get; init; }
    /// <summary>"samples" or "period": the weight of a stack in the flame graph and folded stacks.</summary>
    public string Weight { get; init; } = "samples";
    public int? Pid { get; init; }
    public int? Tid { get; init; }
    public string? Comm { get; init; }
}
