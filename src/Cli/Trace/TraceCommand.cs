using System.CommandLine;
using System.CommandLine.Parsing;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// `dotnet-ptrace trace [record options] -- CMD`: record and decode at once. The record options are `record`'s own
/// (the same builder); `trace` adds what to show, where else to read from, and the simulation used to test and
/// measure the pipeline on machines without Intel PT.
/// </summary>
public static class TraceCommand
{
    public static Command Create()
    {
        var format = new Option<DecodeFormat>("--format") { Description = "What to print as it is decoded: calls, branches, insn, addresses or json (default calls)", DefaultValueFactory = _ => DecodeFormat.Calls };
        var top = new Option<bool>("--top") { Description = "Instead of the flow: the hottest functions by instructions, redrawn once a second on a terminal (a final table otherwise)" };
        var input = new Option<string?>("--input", "-i") { Description = "Decode a perf.data as it arrives instead of recording ('-': a pipe-mode stream on stdin, e.g. perf record -e intel_pt// -o - CMD | dotnet-ptrace trace -i -)", HelpName = "FILE" };
        var showTid = new Option<int?>("--show-tid") { Description = "Print only this thread's flow", HelpName = "TID" };
        var stat = new Option<bool>("--stat") { Description = "At the end, the pipeline's figures on stderr: bytes decoded and skipped, queue and memory peaks (and latency with --simulate)" };
        var queue = new Option<string?>("--queue") { Description = "Trace that may wait for the decoder (default 64M); beyond it trace is dropped from decoding (never from the file) and reported as skipped", HelpName = "SIZE" };
        var backlog = new Option<string?>("--backlog") { Description = "Undecoded trace a stream may hold (default 16M) before decoding jumps to its newest PSB", HelpName = "SIZE" };
        var symfs = new Option<string?>("--symfs") { Description = "Look for the traced binaries under this directory", HelpName = "DIR" };
        var simulate = new Option<string?>("--simulate") { Description = "SIMULATION for tests and benchmarks: replay the Intel PT of a saved perf.data through the simulated AUX producer", HelpName = "FILE", Hidden = true };
        var rate = new Option<string?>("--rate") { Description = "With --simulate: trace bytes per second (e.g. 50M; 0: as fast as possible)", HelpName = "BYTES", Hidden = true };
        var burst = new Option<string?>("--burst") { Description = "With --simulate: bytes the simulated hardware writes at once (default 16K)", HelpName = "BYTES", Hidden = true };
        var repeat = new Option<int>("--repeat") { Description = "With --simulate: replay each stream's trace N times back to back", HelpName = "N", DefaultValueFactory = _ => 1, Hidden = true };
        Option<string>? output = null;

        Command trace = RecordCommand.Create("trace",
            "Record and decode at the same time: calls, branches or instructions as the program runs (-o FILE also keeps the perf.data). " +
            "With --soft-pt the command is single-stepped first and its encoded trace then goes through the same live pipeline.",
            (r, record, ct) =>
            {
                bool keep = r.GetResult(output!) is { Implicit: false };
                var options = new TraceOptions
                {
                    Record = record,
                    KeepFile = keep ? record.Output : null,
                    Format = r.GetValue(format),
                    Top = r.GetValue(top),
                    Input = r.GetValue(input),
                    Simulate = r.GetValue(simulate),
                    Rate = r.GetValue(rate) is { } rt ? (long)(Size(rt) ?? 0) : 0,
                    Burst = r.GetValue(burst) is { } b ? (int)Math.Clamp(Size(b) ?? 16384, 1, 64 << 20) : 16 << 10,
                    Repeat = Math.Max(1, r.GetValue(repeat)),
                    ShowTid = r.GetValue(showTid),
                    Stat = r.GetValue(stat),
                    QueueBytes = r.GetValue(queue) is { } q ? (long)(Size(q) ?? 0) : 64L << 20,
                    MaxBacklog = r.GetValue(backlog) is { } bl ? (long)(Size(bl) ?? 0) : 16L << 20,
                    SymFs = r.GetValue(symfs),
                };
                return new TraceRunner(options).RunAsync(ct);
            },
            otherSource: r => r.GetValue(input) is not null || r.GetValue(simulate) is not null);
        output = trace.Options.OfType<Option<string>>().First(o => o.Name == "--output");
        // `trace` keeps no file unless asked: -o has no default here.
        output.DefaultValueFactory = null;
        output.Description = "Also keep the whole recording in this perf.data (an existing one is renamed FILE.old)";
        foreach (Option o in new Option[] { format, top, input, showTid, stat, queue, backlog, symfs, simulate, rate, burst, repeat }) trace.Options.Add(o);

        format.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<DecodeFormat>() == DecodeFormat.Events) r.AddError("--format events is not decoded live: use calls, branches, insn, addresses or json");
        });
        foreach (var sized in new[] { queue, backlog, rate, burst })
            sized.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<string?>() is { } v && Size(v) is null) r.AddError($"{r.Option.Name} {v}: expected a size in bytes such as 65536, 64K or 4M");
            });
        trace.Validators.Add(r =>
        {
            bool recording = r.GetValue<string[]>("command") is { Length: > 0 } || r.GetValue<string?>("--pid") is not null
                || r.GetValue<string?>("--tid") is not null || r.GetValue<bool>("--all-cpus") || r.GetValue<string?>("--cpu") is not null;
            int sources = (recording ? 1 : 0) + (r.GetValue(input) is not null ? 1 : 0) + (r.GetValue(simulate) is not null ? 1 : 0);
            if (sources > 1) r.AddError("give one source: a command or target to record, -i FILE, or --simulate FILE");
            if (r.GetValue(input) is not null && r.GetResult(output!) is { Implicit: false })
                r.AddError("-o keeps what trace records; with -i the input is already a file");
        });
        return trace;
    }

    /// <summary>A byte count: digits with an optional K/M/G suffix (powers of 1024), or 0x hex.</summary>
    internal static ulong? Size(string text)
    {
        string t = text.Trim();
        if (t == "0") return 0;
        return IntelPtBufferPlan.ParseSize(t);
    }
}
