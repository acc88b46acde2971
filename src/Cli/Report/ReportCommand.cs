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
        var children = new Option<bool>("--children") { Description = "Also show, per entry, the share of samples with it anywhere in the call chain (needs -g recordings); on a terminal, also a call tree. Intel PT: each thread's call tree" };
        var tree = new Option<bool>("--tree") { Description = "Print the call tree of the hottest paths even when the output is not a terminal" };
        var flamegraph = new Option<string?>("--flamegraph") { Description = "Write the call stacks as a self-contained SVG flame graph (zoom, search, tooltips) instead of the table", HelpName = "FILE.svg" };
        var folded = new Option<string?>("--folded") { Description = "Write the call stacks as folded stacks ('a;b;c 12' per line, for flamegraph.pl, inferno, speedscope); '-' for stdout", HelpName = "FILE" };
        var weight = new Option<string?>("--weight") { Description = "What --flamegraph/--folded count: samples (default) or the sum of their period (ns for cpu-clock); Intel PT: insn (default) or ns", HelpName = "samples|period|insn|ns" };
        weight.AcceptOnlyFromAmong("samples", "period", "insn", "ns");
        // Intel PT recordings: every call is known, so a timeline and exact costs instead of sampled ones.
        var timeline = new Option<string?>("--timeline") { Description = "Write the Intel PT calls as a Chrome trace (JSON for ui.perfetto.dev, chrome://tracing): a track per thread, a slice per call", HelpName = "FILE.json" };
        var maxEvents = new Option<long>("--max-events") { Description = "With --timeline: at most N slices and instants (0: no cap); viewers fail on huge files", DefaultValueFactory = _ => TimelineRunner.DefaultMaxEvents, HelpName = "N" };
        var time = new Option<string?>("--time") { Description = "Intel PT: only this span of perf time, START,END in seconds (either may be left out)", HelpName = "START,END" };
        var percentLimit = new Option<double>("--percent-limit") { Description = "Intel PT --children: leave out calls below this share of their thread's instructions", DefaultValueFactory = _ => 0.1, HelpName = "PERCENT" };
        var command = new Command("report", "Show where samples were taken: hottest functions first, a call tree, or a flame graph (Intel PT recordings: every call, exact in instructions, and a timeline)")
        {
            input, sort, children, tree, flamegraph, folded, weight, pid, tid, comm, timeline, maxEvents, time, percentLimit,
        };
        command.SetAction((ParseResult r) =>
        {
            string path = r.GetValue(input)!;
            string? w = r.GetValue(weight);
            if (r.GetValue(timeline) is string json)
                return new TimelineRunner(new TimelineOptions { Input = path, Output = json, Time = r.GetValue(time), Tid = r.GetValue(tid), MaxEvents = r.GetValue(maxEvents) }).Run(Console.Error);
            if (w is "insn" or "ns" || r.GetValue(time) is not null || (File.Exists(path) && PtReportRunner.IsPtOnly(path)))
            {
                if (w is "samples" or "period")
                {
                    Console.Error.WriteLine($"dotnet-ptrace report: {path}: an Intel PT recording has no samples: --weight insn or ns");
                    return ReturnCode.UsageError;
                }
                using Stream stdout = Console.OpenStandardOutput();
                return new PtReportRunner(new PtReportOptions
                {
                    Input = path, Children = r.GetValue(children), Time = r.GetValue(time), Tid = r.GetValue(tid),
                    Folded = r.GetValue(folded), FlameGraph = r.GetValue(flamegraph), FoldedByTime = w == "ns", PercentLimit = r.GetValue(percentLimit),
                }).Run(stdout, Console.Error);
            }
            return new ReportRunner(new ReportOptions
            {
                Input = path,
                Sort = r.GetValue(sort)!,
                Children = r.GetValue(children),
                Tree = r.GetValue(tree),
                FlameGraph = r.GetValue(flamegraph),
                Folded = r.GetValue(folded),
                Weight = w ?? "samples",
                Pid = r.GetValue(pid),
                Tid = r.GetValue(tid),
                Comm = r.GetValue(comm),
            }).Run();
        });
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
