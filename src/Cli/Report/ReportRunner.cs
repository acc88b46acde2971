using System.Globalization;
using System.Text;
using DotnetPtrace.Cli.Dump;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Symbols;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// Runs `report`: sums sample periods per key (perf's "Overhead"/"Self" is the share of the total period; with
/// --children, "Children" is the share of samples whose call chain contains the key at least once) and prints
/// the keys hottest first.
/// </summary>
public sealed class ReportRunner(ReportOptions options)
{
    /// <summary>Callchain values at or above this are PERF_CONTEXT_* markers, not addresses.</summary>
    private const ulong ContextMax = unchecked((ulong)-4095);
    private const ulong ContextKernel = unchecked((ulong)-128);
    private const ulong ContextUser = unchecked((ulong)-512);

    private readonly SymbolResolver _symbols = new(vdsoImage: Native.VdsoImage.ReadOwn);

    public int Run()
    {
        if (!InputOption.CanOpen("report", options.Input)) return ReturnCode.UsageError;
        using var file = PerfDataReader.Open(options.Input);
        using var reader = new TimeOrderedReader(file);
        var self = new Dictionary<Key, ulong>();
        var children = new Dictionary<Key, ulong>();
        var inThisSample = new HashSet<Key>();
        ulong total = 0;
        long samples = 0;
        while (reader.TryRead(out PerfRecord r))
        {
            if (r.Type != PerfRecordType.Sample) { _symbols.Observe(r); continue; }
            if (r.Attr is not { } attr || !SampleParser.TryParse(r.Bytes, attr, out PerfSample s, out _)) continue;
            if (options.Pid is { } p && s.Pid != (uint)p) continue;
            if (options.Tid is { } t && s.Tid != (uint)t) continue;
            string comm = _symbols.Comm((int)s.Tid);
            if (options.Comm is { } c && comm != c) continue;
            ulong period = s.Period == 0 ? 1 : s.Period;
            Key key = KeyOf(comm, (int)s.Pid, s.Ip, s.CpuMode == PerfRecordMisc.Kernel);
            self[key] = self.GetValueOrDefault(key) + period;
            total += period;
            samples++;
            if (!options.Children) continue;
            inThisSample.Clear();
            inThisSample.Add(key);
            bool kernel = s.CpuMode == PerfRecordMisc.Kernel;
            foreach (ulong ip in s.Callchain)
            {
                if (ip >= ContextMax) { kernel = ip == ContextKernel || (ip != ContextUser && kernel); continue; }
                inThisSample.Add(KeyOf(comm, (int)s.Pid, ip, kernel));
            }
            foreach (Key k in inThisSample) children[k] = children.GetValueOrDefault(k) + period;
        }
        Print(file, self, children, total, samples);
        foreach (var warning in file.Warnings)
            Console.Error.WriteLine(InputOption.Describe("report", options.Input, warning).Replace(": at offset", ": warning: at offset"));
        if (file.Error is { } error)
        {
            Console.Error.WriteLine(InputOption.Describe("report", options.Input, error));
            return ReturnCode.RecordingError;
        }
        return ReturnCode.Ok;
    }

    private readonly record struct Key(string Comm, string Dso, string Symbol);

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

    private void Print(PerfDataReader file, Dictionary<Key, ulong> self, Dictionary<Key, ulong> children, ulong total, long samples)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# Samples: {samples}  of event(s): {string.Join(", ", file.Attrs.Attrs.Select(a => a.Name))}\n");
        sb.Append(CultureInfo.InvariantCulture, $"# Event count (approx.): {total}\n#\n");
        string columns = options.Sort switch { "dso" => "Shared Object", "comm" => "Command", _ => "Shared Object  Symbol" };
        sb.Append(options.Children ? $"# Children      Self  {columns}\n#\n" : $"# Overhead  {columns}\n#\n");
        var rows = options.Children ? children : self;
        foreach (var (key, value) in rows.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Symbol, StringComparer.Ordinal))
        {
            string text = options.Sort switch { "dso" => key.Dso, "comm" => key.Comm, _ => $"{Path.GetFileName(key.Dso),-14} {key.Symbol}" };
            if (options.Children)
                sb.Append(CultureInfo.InvariantCulture, $"{Percent(value, total),9:F2}% {Percent(self.GetValueOrDefault(key), total),8:F2}%  {text}\n");
            else
                sb.Append(CultureInfo.InvariantCulture, $"{Percent(value, total),9:F2}%  {text}\n");
        }
        using var output = Utf8Output.StandardOutput();
        output.Write(sb.ToString());
    }

    private static double Percent(ulong value, ulong total) => total == 0 ? 0 : 100.0 * value / total;
}
