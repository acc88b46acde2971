using System.Globalization;
using System.Text;
using DotnetPtrace.Cli.Dump;
using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Profiles;
using DotnetPtrace.Decoders.Symbols;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// Runs `report`: sums sample periods per key (perf's "Overhead"/"Self" is the share of the total period; with
/// --children, "Children" is the share of samples whose call chain contains the key at least once) and prints
/// the keys hottest first. Redirected, the text is perf report --stdio's; on a terminal the percentages are
/// coloured as perf colours them and --children adds a call tree. With --flamegraph/--folded the samples' call
/// stacks go to those files instead of the table.
/// </summary>
public sealed class ReportRunner(ReportOptions options)
{
    /// <summary>Callchain values at or above this are PERF_CONTEXT_* markers, not addresses.</summary>
    private const ulong ContextMax = unchecked((ulong)-4095);
    private const ulong ContextKernel = unchecked((ulong)-128);
    private const ulong ContextUser = unchecked((ulong)-512);

    private readonly SymbolResolver _symbols = new(vdsoImage: Native.VdsoImage.ReadOwn, demangle: Native.CxxDemangler.Demangle);

    private bool ProfileOutput => options.FlameGraph is not null || options.Folded is not null;

    public int Run()
    {
        if (!InputOption.CanOpen("report", options.Input)) return ReturnCode.UsageError;
        var colour = new TerminalColour(!ProfileOutput && TerminalColour.StdoutWantsColour());
        bool tree = options.Tree || (options.Children && colour.Enabled);
        var stacks = new SampleStackBuilder(_symbols);
        using var file = PerfDataReader.Open(options.Input);
        using var reader = new TimeOrderedReader(file);
        // One table per event, as perf prints them: percentages of different events never mix.
        var tallies = new SortedDictionary<int, Tally>();
        var inThisSample = new HashSet<Key>();
        var flame = new FlameInput(options.Weight);
        // Erased before the table is printed: the line is for the wait, not the result.
        using var progress = new ProgressLine("reading", file.IsPipe ? 0 : new FileInfo(options.Input).Length);
        while (reader.TryRead(out PerfRecord r))
        {
            progress.Update(r.Offset);
            if (r.Type != PerfRecordType.Sample) { _symbols.Observe(r); continue; }
            if (r.Attr is not { } attr || !SampleParser.TryParse(r.Bytes, attr, out PerfSample s, out _)) continue;
            if (options.Pid is { } p && s.Pid != (uint)p) continue;
            if (options.Tid is { } t && s.Tid != (uint)t) continue;
            string comm = _symbols.Comm((int)s.Tid);
            if (options.Comm is { } c && comm != c) continue;
            ulong period = s.Period == 0 ? 1 : s.Period;
            if (ProfileOutput)
            {
                // A flame graph holds one event: adding cycles to page faults would mean nothing.
                if (flame.Accept(attr, s.Has(SampleType.Callchain)))
                    stacks.Add(flame.Profile!, s, comm, options.Weight == "period" ? period : 1);
                continue;
            }
            if (!tallies.TryGetValue(attr.Index, out Tally? tally))
                tallies[attr.Index] = tally = new Tally(attr.Name, tree ? new StackProfile(attr.Name) : null);
            Key key = KeyOf(comm, (int)s.Pid, s.Ip, s.CpuMode == PerfRecordMisc.Kernel);
            tally.Self[key] = tally.Self.GetValueOrDefault(key) + period;
            tally.Total += period;
            tally.Samples++;
            if (tally.Stacks is { } profile) stacks.Add(profile, s, comm, period);
            if (!options.Children) continue;
            inThisSample.Clear();
            inThisSample.Add(key);
            bool kernel = s.CpuMode == PerfRecordMisc.Kernel;
            foreach (ulong ip in s.Callchain)
            {
                if (ip >= ContextMax) { kernel = ip == ContextKernel || (ip != ContextUser && kernel); continue; }
                inThisSample.Add(KeyOf(comm, (int)s.Pid, ip, kernel));
            }
            foreach (Key k in inThisSample) tally.Children[k] = tally.Children.GetValueOrDefault(k) + period;
        }
        progress.Dispose();
        int status = ReturnCode.Ok;
        if (ProfileOutput && file.Error is { } unreadable && flame.Samples == 0)
        {
            // One line: why the file gave nothing, and that no output was made.
            Console.Error.WriteLine(InputOption.Describe("report", options.Input, unreadable) + "; no samples, nothing written");
            return ReturnCode.RecordingError;
        }
        if (ProfileOutput)
            status = WriteProfile(flame);
        else
        {
            using var output = Utf8Output.StandardOutput();
            foreach (var tally in tallies.Values)
            {
                output.Write(Format(tally, colour));
                if (tally.Stacks is { } profile) output.Write(CallTreeText.Format(profile, tally.EventName, colour));
            }
            if (tallies.Count == 0) output.Write("# No samples\n");
        }
        foreach (var warning in file.Warnings)
            Console.Error.WriteLine(InputOption.Describe("report", options.Input, warning).Replace(": at offset", ": warning: at offset"));
        if (file.Error is { } error)
        {
            Console.Error.WriteLine(InputOption.Describe("report", options.Input, error));
            return ReturnCode.RecordingError;
        }
        return status;
    }

    /// <summary>The flame graph / folded stacks of one event's samples, with a line for what was left out.</summary>
    private int WriteProfile(FlameInput input)
    {
        string source = options.Input == "-" ? "stdin" : options.Input;
        if (input.Profile is not { IsEmpty: false } profile)
        {
            string filtered = options.Pid is not null || options.Tid is not null || options.Comm is not null ? " matching --pid/--tid/--comm" : "";
            Console.Error.WriteLine(input.Samples == 0 && input.OtherEventSamples == 0
                ? $"dotnet-ptrace report: {source}: no samples to draw{filtered} (record some with: dotnet-ptrace record -g -e cpu-clock -- CMD)"
                : $"dotnet-ptrace report: {source}: no stacks to draw");
            return ReturnCode.RecordingError;
        }
        if (input.OtherEventSamples > 0)
            Console.Error.WriteLine($"dotnet-ptrace report: {source}: only event '{input.EventName}' is drawn; {input.OtherEventSamples} samples of other events left out");
        if (input.SamplesWithCallchain == 0)
            Console.Error.WriteLine($"dotnet-ptrace report: {source}: the samples have no call chains (record with -g): each stack is the sampled function alone");
        bool counts = profile.WeightUnit == "samples";
        string subtitle = $"{Path.GetFileName(source)}: {input.Samples.ToString("N0", CultureInfo.InvariantCulture)} {input.EventName} samples; " +
                          (counts ? "frame width = sample count" : $"frame width = sum of their period ({profile.WeightUnit})");
        string weight = counts ? $"{input.EventName} samples" : $"{input.EventName} period ({profile.WeightUnit})";
        return new FlameOutputs(options.Folded, options.FlameGraph).Write(profile, subtitle, weight);
    }

    private readonly record struct Key(string Comm, string Dso, string Symbol);

    /// <summary>What one event's samples add up to (and, for the call tree, their stacks).</summary>
    private sealed class Tally(string eventName, StackProfile? stacks)
    {
        public string EventName { get; } = eventName;
        public Dictionary<Key, ulong> Self { get; } = [];
        public Dictionary<Key, ulong> Children { get; } = [];
        public ulong Total { get; set; }
        public long Samples { get; set; }
        public StackProfile? Stacks { get; } = stacks;
    }

    private Key KeyOf(string comm, int pid, ulong ip, bool kernel)
    {
        ResolvedSymbol sym = _symbols.Resolve(pid, ip, kernel);
        return options.Sort switch
        {
            "dso" => new Key("", sym.Dso, ""),
            "comm" => new Key(comm, "", ""),
            _ => new Key("", sym.Dso, $"[{(kernel || sym.Dso == SymbolResolver.KernelDso ? 'k' : '.')}] {sym.Name ?? Unresolved(sym.DsoAddress)}"),
        };
    }

    /// <summary>
    /// perf's sort__sym_print for an address without a symbol: printf("%#018llx") of the DSO-relative address,
    /// which C prints without the 0x for zero.
    /// </summary>
    private static string Unresolved(ulong address) =>
        address == 0 ? "0000000000000000" : "0x" + address.ToString("x16", CultureInfo.InvariantCulture);

    private string Format(Tally tally, TerminalColour colour)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# Samples: {tally.Samples}  of event '{tally.EventName}'\n");
        sb.Append(CultureInfo.InvariantCulture, $"# Event count (approx.): {tally.Total}\n#\n");
        string columns = options.Sort switch { "dso" => "Shared Object", "comm" => "Command", _ => "Shared Object  Symbol" };
        sb.Append(options.Children ? $"# Children      Self  {columns}\n#\n" : $"# Overhead  {columns}\n#\n");
        var rows = options.Children ? tally.Children : tally.Self;
        foreach (var (key, value) in rows.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Symbol, StringComparer.Ordinal))
        {
            string text = options.Sort switch { "dso" => key.Dso, "comm" => key.Comm, _ => $"{Path.GetFileName(key.Dso),-14} {key.Symbol}" };
            double share = Percent(value, tally.Total);
            if (options.Children)
            {
                double self = Percent(tally.Self.GetValueOrDefault(key), tally.Total);
                sb.Append(colour.Percent(share, share.ToString("F2", CultureInfo.InvariantCulture).PadLeft(9) + "%"));
                sb.Append(' ');
                sb.Append(colour.Percent(self, self.ToString("F2", CultureInfo.InvariantCulture).PadLeft(8) + "%"));
                sb.Append(CultureInfo.InvariantCulture, $"  {text}\n");
            }
            else
            {
                sb.Append(colour.Percent(share, share.ToString("F2", CultureInfo.InvariantCulture).PadLeft(9) + "%"));
                sb.Append(CultureInfo.InvariantCulture, $"  {text}\n");
            }
        }
        sb.Append('\n');
        return sb.ToString();
    }

    private static double Percent(ulong value, ulong total) => total == 0 ? 0 : 100.0 * value / total;
}
