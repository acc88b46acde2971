using System.Globalization;

namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>How many address ranges the PMU can filter on, and the check perf makes before asking the kernel.</summary>
public static class AddressFilterLimit
{
    /// <summary>
    /// The kernel's nr_addr_filters file in the PMU's directory (what perf reads), else Intel PT's
    /// caps/num_address_ranges (the same number: pt.c sets nr_addr_filters from it); 0 when the PMU has neither.
    /// </summary>
    public static (int Count, string Source) MaxRanges(Pmu pmu)
    {
        if (int.TryParse(pmu.ReadAttribute("nr_addr_filters"), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            return (n, $"{pmu.Name}/nr_addr_filters");
        if (pmu.Caps.TryGetValue("num_address_ranges", out string? text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out n))
            return (n, $"{pmu.Name}/caps/num_address_ranges");
        return (0, $"{pmu.Name} (no nr_addr_filters or caps/num_address_ranges)");
    }

    public static void Check(Pmu pmu, int filters)
    {
        var (max, source) = MaxRanges(pmu);
        if (max == 0)
            throw new AddressFilterException($"--filter: this {pmu.Name} cannot filter by address ({source} is 0)");
        if (filters > max)
            throw new AddressFilterException($"--filter: {filters} address filters, but this CPU's {pmu.Name} has {max} address range(s) ({source})");
    }
}
