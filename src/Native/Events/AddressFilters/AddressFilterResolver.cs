using System.Globalization;

namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>A filter in the kernel's terms: file offset (or kernel address), size (0: a single address), file.</summary>
public readonly record struct KernelAddressFilter(AddressFilterAction Action, bool Range, ulong Start, ulong Size, string? File)
{
    /// <summary>
    /// The kernel's syntax (kernel/events/core.c perf_event_parse_addr_filter: ACTION START[/SIZE][@FILE]) in the form
    /// perf's addr_filter__to_str writes it: <c>filter 0x1130/0x2a@/usr/bin/prog</c>, <c>start 0x1130@/usr/bin/prog</c>.
    /// </summary>
    public override string ToString()
    {
        string action = Action switch { AddressFilterAction.Filter => "filter", AddressFilterAction.Start => "start", _ => "stop" };
        string at = File is null ? "" : "@" + File;
        return Range
            ? string.Create(CultureInfo.InvariantCulture, $"{action} 0x{Start:x}/0x{Size:x}{at}")
            : string.Create(CultureInfo.InvariantCulture, $"{action} 0x{Start:x}{at}");
    }

    /// <summary>Several filters as one PERF_EVENT_IOC_SET_FILTER string (perf joins them with commas).</summary>
    public static string Join(IEnumerable<KernelAddressFilter> filters) => string.Join(",", filters);
}

/// <summary>
/// Turns parsed filters into kernel filters the way perf's addr_filter__resolve_syms does: symbols are looked up in
/// the named ELF file and become file offsets; `filter SYM` takes the symbol's size; `/ SYM2` ends the range at the
/// end of SYM2; `*` is the whole file; the file is named by its real path. Kernel symbols (no @ FILE) are not
/// looked up: give kernel addresses as numbers.
/// </summary>
public static class AddressFilterResolver
{
    public static IReadOnlyList<KernelAddressFilter> Resolve(IReadOnlyList<AddressFilterSpec> filters, Func<string, ElfFunctionTable>? load = null)
    {
        load ??= ElfFunctionTable.Load;
        var tables = new Dictionary<string, ElfFunctionTable>(StringComparer.Ordinal);
        var resolved = new List<KernelAddressFilter>(filters.Count);
        foreach (var f in filters)
        {
            string? path = f.File is null ? null : RealPath(f);
            ElfFunctionTable Table()
            {
                if (path is null) throw Error(f, $"symbol '{(f.From.IsSymbol ? f.From : f.To)}' needs '@ FILE': kernel symbols are not resolved here, give a kernel address");
                if (!tables.TryGetValue(path, out var table))
                {
                    try { tables[path] = table = load(path); }
                    catch (AddressFilterException e) { throw Error(f, e.Message); }
                }
                return table;
            }
            ulong start = f.From.Number, size = f.To is { IsSymbol: false } n ? n.Number : 0;
            if (f.From.Symbol == "*")
            {
                if (f.To is not null) throw Error(f, "'*' (the whole file) takes no end");
                start = 0;
                size = Table().FileSize;
            }
            else if (f.From.IsSymbol)
            {
                var from = Find(Table(), f.From, f, path!);
                start = from.FileOffset;
                if (f.Range && f.To is null) size = from.Size;
            }
            if (f.To is { IsSymbol: true } toOperand)
            {
                var to = Find(Table(), toOperand, f, path!);
                if (to.FileOffset + to.Size < start)
                    throw Error(f, $"'{toOperand}' (0x{to.FileOffset:x}) comes before the start (0x{start:x})");
                size = to.FileOffset + to.Size - start;
            }
            // The kernel refuses a `filter` without a size (EINVAL): say which one.
            if (f.Action == AddressFilterAction.Filter && size == 0)
                throw Error(f, f.From.IsSymbol ? $"the size of '{f.From}' is unknown: give one (filter {f.From.Symbol} / SIZE @ ...)" : "a filter range needs a size: START/SIZE");
            resolved.Add(new KernelAddressFilter(f.Action, f.Range, start, size, path));
        }
        return resolved;
    }

    /// <summary>perf's find_dso_sym: the one function of that name, the n-th (#n), or the global one (#g).</summary>
    private static ElfFunction Find(ElfFunctionTable table, FilterOperand operand, AddressFilterSpec f, string path)
    {
        var all = table.Named(operand.Symbol!);
        if (all.Count == 0)
            throw Error(f, $"no function '{operand.Symbol}' in {path}");
        if (operand.SymbolIndex > 0)
        {
            if (operand.SymbolIndex > all.Count)
                throw Error(f, $"'{operand}': {path} has only {all.Count} function(s) called '{operand.Symbol}'");
            return all[operand.SymbolIndex - 1];
        }
        var candidates = operand.SymbolIndex == 0 ? all.Where(s => s.Global).ToList() : all.ToList();
        if (candidates.Count == 0)
            throw Error(f, $"no global function '{operand.Symbol}' in {path}");
        if (candidates.Count > 1)
        {
            string list = string.Join(", ", all.Select((s, i) => $"#{i + 1} at 0x{s.Address:x} ({(s.Global ? "global" : "local")})"));
            throw Error(f, $"{candidates.Count} functions are called '{operand.Symbol}' in {path} ({list}): choose one with #n, or #g for the global one");
        }
        return candidates[0];
    }

    private static string RealPath(AddressFilterSpec f)
    {
        string? path = Native.RealPath.TryResolve(f.File!, out string? error);
        if (path is null) throw Error(f, $"{f.File}: {error}");
        if (!File.Exists(path)) throw Error(f, $"{f.File} is not a regular file");
        return path;
    }

    private static AddressFilterException Error(AddressFilterSpec f, string why) => new($"--filter '{f.Text}': {why}");
}
