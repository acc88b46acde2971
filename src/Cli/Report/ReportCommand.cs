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
        // Intel PT recordings (owned by the calls/timeline work): --timeline, --max-events, --time, --folded.
        var timeline = new Option<string?>("--timeline") { Description = "Write the Intel PT calls as a Chrome trace (JSON for ui.perfetto.dev, chrome://tracing): a track per thread, a slice per call", HelpName = "FILE.json" };
        var maxEvents = new Option<long>("--max-events") { Description = "With --timeline: at most N slices and instants (0: no cap); viewers fail on huge files", DefaultValueFactory = _ => TimelineRunner.DefaultMaxEvents, HelpName = "N" };
        var time = new Option<string?>("--time") { Description = "Intel PT: only this span of perf time, START,END in seconds (either may be left out)", HelpName = "START,END" };
        var folded = new Option<string?>("--folded") { Description = "Intel PT: write folded stacks (a;b;c weight) to FILE, weighted by instructions (--folded-weight ns: by time)", HelpName = "FILE" };
        var foldedWeight = new Option<string>("--folded-weight") { Description = "Weight of --folded stacks: insn or ns", DefaultValueFactory = _ => "insn", HelpName = "insn|ns" };
        foldedWeight.AcceptOnlyFromAmong("insn", "ns");
        var percentLimit = new Option<double>("--percent-limit") { Description = "Intel PT --children: leave out calls below this share of their thread's instructions", DefaultValueFactory = _ => 0.1, HelpName = "PERCENT" };
        var command = new Command("report", "Show where samples were taken: hottest functions first (Intel PT recordings: every call, exact in instructions)") { input, sort, children, pid, tid, comm, timeline, maxEvents, time, folded, foldedWeight, percentLimit };
        command.SetAction((ParseResult r) =>
        {
            string path = r.GetValue(input)!;
            if (r.GetValue(timeline) is string json)
                return new TimelineRunner(new TimelineOptions { Input = path, Output = json, Time = r.GetValue(time), Tid = r.GetValue(tid), MaxEvents = r.GetValue(maxEvents) }).Run(Console.Error);
            if (r.GetValue(folded) is not null || r.GetValue(time) is not null || (File.Exists(path) && PtReportRunner.IsPtOnly(path)))
            {
                using Stream stdout = Console.OpenStandardOutput();
                return new PtReportRunner(new PtReportOptions
                {
                    Input = path, Children = r.GetValue(children), Time = r.GetValue(time), Tid = r.GetValue(tid),
                    Folded = r.GetValue(folded), FoldedByTime = r.GetValue(foldedWeight) == "ns", PercentLimit = r.GetValue(percentLimit),
                }).Run(stdout, Console.Error);
            }
            return RunSamples(r);
        });
        return command;

        int RunSamples(ParseResult r) => new ReportRunner(new ReportOptions
        {
            Input = r.GetValue(input)!,
            Sort = r.GetValue(sort)!,
            Children = r.GetValue(children),
            Pid = r.GetValue(pid),
            Tid = r.GetValue(tid),
            Comm = r.GetValue(comm),
        }).Run();
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
