using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace DotnetPtrace.Cli.Record;

/// <summary>
/// `dotnet-ptrace record`: perf record's options with perf's letters and meanings. Everything after the first
/// token that is not an option belongs to the command (CaptureRemainingTokens), as perf stops at the first
/// non-option, so `record ./app -v` passes -v to the app.
/// </summary>
public static class RecordCommand
{
    public static Command Create() => Create("record", "Record events of a command, processes, threads or the whole system into a perf.data file");

    /// <summary>
    /// The record options on a command of another name (`trace` shares them): <paramref name="run"/> replaces the
    /// action, and <paramref name="otherSource"/> says when the command has something to read instead of a target.
    /// </summary>
    internal static Command Create(string name, string description,
        Func<ParseResult, RecordOptions, CancellationToken, Task<int>>? run = null, Func<CommandResult, bool>? otherSource = null)
    {
        var events = new Option<string[]>("--event", "-e")
        {
            Description = "Event to record (repeatable): cpu-clock, task-clock, page-faults, context-switches, sys:name tracepoints, pmu/terms/ with :u :k :h modifiers, rNNN",
            AllowMultipleArgumentsPerToken = false,
            HelpName = "EVENT",
        };
        var output = new Option<string>("--output", "-o") { Description = "Output file (an existing one is renamed FILE.old); - writes a perf.data pipe-mode stream to stdout", DefaultValueFactory = _ => "perf.data", HelpName = "FILE" };
        var freq = new Option<string?>("--freq", "-F") { Description = "Sample frequency in Hz, or 'max' (default 4000)", HelpName = "HZ" };
        var count = new Option<ulong?>("--count", "-c") { Description = "Sample every N events (a period, instead of -F)", HelpName = "N" };
        var callGraph = new Option<bool>("--call-graph", "-g") { Description = "Record call chains (frame pointers)" };
        var mmapPages = new Option<string?>("--mmap-pages", "-m") { Description = "Ring sizes per CPU: DATA[,AUX] in pages (powers of two) or sizes like 512K, 4M; AUX is for intel_pt (default 4M as root)", HelpName = "PAGES[,AUX]" };
        var pid = new Option<string?>("--pid", "-p") { Description = "Attach to these processes (comma list) and all their threads", HelpName = "PID[,PID]" };
        var tid = new Option<string?>("--tid", "-t") { Description = "Attach to these threads (comma list)", HelpName = "TID[,TID]" };
        var all = new Option<bool>("--all-cpus", "-a") { Description = "System-wide: every task on every CPU (or the -C list)" };
        var cpus = new Option<string?>("--cpu", "-C") { Description = "Only these CPUs, e.g. 0-3,7 (implies -a when no target is given)", HelpName = "CPUS" };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long: seconds (2.5), or 10s, 500ms, 1m, hh:mm:ss", HelpName = "TIME" };
        var verbose = new Option<int>("--verbose", "-v") { Description = "More diagnostics on stderr (repeat for more)", Arity = ArgumentArity.Zero };
        verbose.CustomParser = r => r.Tokens.Count;   // -v, -vv
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only errors on stderr" };
        var softPt = new Option<bool>("--soft-pt") { Description = "Software Intel PT: single-step the command (or the -p processes, detached again at the end) with ptrace and write the trace Intel PT would give (slow, exact, for machines without PT); -e intel_pt/TERMS/ sets the packet options" };
        var groundTruth = new Option<string?>("--ground-truth") { Description = "With --soft-pt: also write the executed addresses, per thread, one per line", HelpName = "FILE" };
        var snapshot = new Option<string?>("--snapshot", "-S")
        {
            Description = "AUX snapshot mode (intel_pt): keep the newest trace in a ring buffer and write it on SIGUSR2 and at exit; =SIZE limits each snapshot (bytes, or 64K, 4M)",
            Arity = ArgumentArity.ZeroOrOne,
            HelpName = "SIZE",
        };
        var perThread = new Option<bool>("--per-thread") { Description = "One ring per thread (events opened with cpu -1, children and new threads not followed) instead of one per CPU" };
        var filter = new Option<string[]>("--filter")
        {
            Description = "Intel PT address filter, perf's syntax: 'filter FUNC @ FILE', 'start ADDR[/SIZE] @ FILE', 'stop ...', 'tracestop ...' (repeatable)",
            AllowMultipleArgumentsPerToken = false,
            HelpName = "FILTER",
        };
        var dotnetJit = new Option<bool>("--dotnet-jit") { Description = ".NET JIT code: run the command with DOTNET_PerfMapEnabled=1 (or ask -p processes over the diagnostics IPC) so its /tmp/jit-PID.dump and /tmp/perf-PID.map give decode and report the code and names of JIT-compiled methods" };
        var delay = new Option<int?>("--delay", "-D") { Description = "With --soft-pt: let the command run untraced for MSECS ms, then attach to all its threads and single-step from there (until it exits, or --duration ends the trace and kills it)", HelpName = "MSECS" };
        var command = new Argument<string[]>("command")
        {
            Description = "The command to launch and record, with its arguments (use -- before it when it has options)",
            Arity = ArgumentArity.ZeroOrMore,
            CaptureRemainingTokens = true,
        };

        var record = new Command(name, description)
        {
            events, output, freq, count, callGraph, mmapPages, pid, tid, all, cpus, duration, verbose, quiet, softPt, groundTruth,
            snapshot, perThread, filter, dotnetJit, delay, command,
        };

        record.Validators.Add(r =>
        {
            int targets = (r.GetValue(command) is { Length: > 0 } ? 1 : 0) + (r.GetValue(pid) is not null ? 1 : 0)
                          + (r.GetValue(tid) is not null ? 1 : 0) + (r.GetValue(all) ? 1 : 0);
            if (targets > 1) r.AddError("give one target: a command, -p PID, -t TID or -a");
            if (targets == 0 && r.GetValue(cpus) is null && otherSource?.Invoke(r) != true) r.AddError("nothing to record: give a command (after --), -p PID, -t TID or -a");
            if (r.GetValue(freq) is not null && r.GetValue(count) is not null) r.AddError("-F and -c are exclusive: sample by frequency or by period");
            if (r.GetValue(softPt) && r.GetValue(command) is not { Length: > 0 } && r.GetValue(pid) is null)
                r.AddError("--soft-pt traces a command it launches (after --) or running processes (-p PID); it cannot follow -t threads or -a");
            if (r.GetValue(softPt) && r.GetValue(pid) is not null && r.GetValue(delay) is not null)
                r.AddError("-D/--delay lets a launched command start untraced; with -p tracing starts at once");
            if (r.GetValue(groundTruth) is not null && !r.GetValue(softPt)) r.AddError("--ground-truth needs --soft-pt");
            bool systemWide = r.GetValue(all) || (r.GetValue(cpus) is not null && r.GetValue(pid) is null && r.GetValue(tid) is null && r.GetValue(command) is not { Length: > 0 });
            if (r.GetValue(perThread) && systemWide) r.AddError("--per-thread follows tasks: it cannot be used with -a or a CPU list alone");
            if (r.GetValue(delay) is not null && !r.GetValue(softPt)) r.AddError("-D/--delay is implemented for --soft-pt (let the command start untraced, then single-step)");
            if (r.GetValue(dotnetJit) && (r.GetValue(all) || r.GetValue(tid) is not null)) r.AddError("--dotnet-jit needs a command to launch or -p PID of a .NET process");
            if (r.GetValue(softPt) && (r.GetResult(snapshot) is not null || r.GetValue(filter) is { Length: > 0 }))
                r.AddError("--snapshot and --filter are for hardware Intel PT; --soft-pt records the whole run");
        });
        freq.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && v != "max" && (!ulong.TryParse(v, out ulong f) || f == 0)) r.AddError($"-F {v}: expected a frequency in Hz or 'max'"); });
        count.Validators.Add(r => { if (r.GetValueOrDefault<ulong?>() is 0) r.AddError("-c 0: the period must be at least 1"); });
        mmapPages.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && !TryParseMmapPages(v, out _, out _, out string? error)) r.AddError(error!); });
        duration.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && ParseDuration(v) is null) r.AddError($"--duration {v}: expected seconds (2.5), 10s, 500ms, 1m or hh:mm:ss"); });
        pid.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && ParseIds(v) is null) r.AddError($"-p {v}: expected process ids separated by commas"); });
        snapshot.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } v && SnapshotSizeOf(v) is null)
                r.AddError($"--snapshot {v}: expected a size in bytes such as 65536, 0x10000, 64K or 4M (put the command after --)");
        });
        delay.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 0) r.AddError("-D: the delay is a number of milliseconds, 0 or more"); });
        tid.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && ParseIds(v) is null) r.AddError($"-t {v}: expected thread ids separated by commas"); });

        record.SetAction((ParseResult r, CancellationToken ct) =>
        {
            string? f = r.GetValue(freq);
            var options = new RecordOptions
            {
                Events = r.GetValue(events) ?? [],
                Output = r.GetValue(output)!,
                Frequency = f is null ? null : f == "max" ? ulong.MaxValue : ulong.Parse(f, CultureInfo.InvariantCulture),
                Period = r.GetValue(count),
                CallGraph = r.GetValue(callGraph),
                DataPages = r.GetValue(mmapPages) is { } m && TryParseMmapPages(m, out int? data, out _, out _) && data is int d0 ? d0 : 128,
                AuxPages = r.GetValue(mmapPages) is { } ma && TryParseMmapPages(ma, out _, out int? aux, out _) ? aux : null,
                Pids = r.GetValue(pid) is { } p ? ParseIds(p)! : [],
                Tids = r.GetValue(tid) is { } t ? ParseIds(t)! : [],
                SystemWide = r.GetValue(all) || (r.GetValue(cpus) is not null && r.GetValue(pid) is null && r.GetValue(tid) is null && r.GetValue(command) is not { Length: > 0 }),
                CpuList = r.GetValue(cpus),
                Duration = r.GetValue(duration) is { } d ? ParseDuration(d) : null,
                Verbosity = r.GetValue(verbose),
                Quiet = r.GetValue(quiet),
                Command = r.GetValue(command) ?? [],
                SoftPt = r.GetValue(softPt),
                Snapshot = r.GetResult(snapshot) is not null,
                SnapshotSize = r.GetValue(snapshot) is { } sv && SnapshotSizeOf(sv) is { } bytes and > 0 ? bytes : null,
                PerThread = r.GetValue(perThread),
                Filters = r.GetValue(filter) ?? [],
                GroundTruth = r.GetValue(groundTruth),
                DotnetJit = r.GetValue(dotnetJit),
                Delay = r.GetValue(delay) is int ms ? TimeSpan.FromMilliseconds(ms) : null,
                OwnCommandLine = ["dotnet-ptrace", .. r.Tokens.Select(t => t.Value)],
            };
            if (run is not null) return run(r, options, ct);
            return options.SoftPt ? new SoftPtRecordRunner(options).RunAsync(ct) : new RecordRunner(options).RunAsync(ct);
        });
        return record;
    }

    /// <summary>The size of --snapshot=SIZE in bytes; 0 for a bare "e" (perf's snapshot-at-exit flag, always on here); null when invalid.</summary>
    public static ulong? SnapshotSizeOf(string text) =>
        text.Trim() == "e" ? 0 : Native.Events.IntelPtBufferPlan.ParseSize(text) is { } size and > 0 ? size : null;

    /// <summary>-m DATA[,AUX] as perf takes it: either part may be empty (",16" sets only the AUX area).</summary>
    public static bool TryParseMmapPages(string text, out int? data, out int? aux, out string? error)
    {
        data = aux = null;
        error = null;
        string[] parts = text.Split(',');
        if (parts.Length > 2) { error = $"-m {text}: expected DATA[,AUX]"; return false; }
        if (parts[0].Length > 0 && (data = ParsePages(parts[0], out error)) is null) return false;
        if (parts.Length == 2 && parts[1].Length > 0 && (aux = ParsePages(parts[1], out error)) is null) return false;
        if (data is null && aux is null) { error = $"-m {text}: expected a number of pages or a size"; return false; }
        return true;
    }

    /// <summary>One -m size: a page count that is a power of two, or a byte size (B/K/M/G) rounded to pages.</summary>
    public static int? ParsePages(string text, out string? error)
    {
        error = null;
        string t = text.Trim();
        long pages;
        char unit = t.Length > 0 ? char.ToUpperInvariant(t[^1]) : ' ';
        if (unit is 'B' or 'K' or 'M' or 'G')
        {
            if (!long.TryParse(t[..^1], out long n) || n <= 0) { error = $"-m {text}: expected pages or a size like 512K"; return null; }
            long bytes = n * unit switch { 'K' => 1024L, 'M' => 1024L * 1024, 'G' => 1024L * 1024 * 1024, _ => 1 };
            pages = bytes / Environment.SystemPageSize;
        }
        else if (!long.TryParse(t, out pages) || pages <= 0) { error = $"-m {text}: expected a number of pages (a power of two) or a size like 512K"; return null; }
        if ((pages & (pages - 1)) != 0 || pages > (1L << 20))
        {
            long lower = 1L << (int)(63 - long.LeadingZeroCount(Math.Max(pages, 1)));
            error = $"-m {text}: the ring must be a power of two pages ({pages} pages is not; try {lower} or {lower * 2})";
            return null;
        }
        return (int)pages;
    }

    public static TimeSpan? ParseDuration(string text)
    {
        string t = text.Trim();
        double value;
        if (t.EndsWith("ms", StringComparison.Ordinal) && double.TryParse(t[..^2], NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return TimeSpan.FromMilliseconds(value);
        if (t.EndsWith('s') && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return TimeSpan.FromSeconds(value);
        if (t.EndsWith('m') && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return TimeSpan.FromMinutes(value);
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value > 0) return TimeSpan.FromSeconds(value);
        if (t.Contains(':') && TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero) return span;
        return null;
    }

    public static int[]? ParseIds(string text)
    {
        var ids = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out int id) || id <= 0) return null;
            ids.Add(id);
        }
        return ids.Count > 0 ? ids.Distinct().ToArray() : null;
    }
}
