namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>
/// The whole --filter path before any syscall, as perf's auxtrace_parse_filters runs it: parse every filter, count
/// them against the PMU's address ranges, resolve symbols in their files, and join the result into the one string
/// PERF_EVENT_IOC_SET_FILTER takes (and AUXTRACE_INFO records).
/// </summary>
public static class AddressFilterSet
{
    /// <param name="systemWide">-a: the kernel takes file-based filters only on per-task events.</param>
    public static string Build(Pmu pmu, IEnumerable<string> texts, bool systemWide)
    {
        var specs = texts.SelectMany(AddressFilterParser.Parse).ToList();
        AddressFilterLimit.Check(pmu, specs.Count);
        if (systemWide && specs.Any(f => f.File is not null))
            throw new AddressFilterException("--filter with '@ FILE' needs a traced task (a command, -p or -t): the kernel supports file-based filters per task only, not with -a");
        return KernelAddressFilter.Join(AddressFilterResolver.Resolve(specs));
    }
}
