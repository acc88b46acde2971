using System.Globalization;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// Checks an intel_pt config against what this CPU can do, before the kernel answers a bare EINVAL: each period
/// field against its caps bitmap (bit n set = value n allowed; 0 is always allowed, as perf's
/// intel_pt_val_config_term has it), and each optional packet kind against the capability that enables it.
/// </summary>
public static class IntelPtConfigValidator
{
    /// <summary>(term, caps bitmap file, capability the field needs at all).</summary>
    private static readonly (string Term, string Values, string Needs)[] PeriodFields =
    [
        ("mtc_period", "mtc_periods", "mtc"),
        ("psb_period", "psb_periods", "psb_cyc"),
        ("cyc_thresh", "cycle_thresholds", "psb_cyc"),
    ];

    /// <summary>(term, capability it needs): packets the hardware produces only if the CPU supports them.</summary>
    private static readonly (string Term, string Needs)[] FeatureTerms =
    [
        ("cyc", "psb_cyc"),
        ("mtc", "mtc"),
        ("ptw", "ptwrite"),
        ("fup_on_ptw", "ptwrite"),
        ("pwr_evt", "power_event_trace"),
        ("event", "event_trace"),
        ("notnt", "tnt_disable"),
    ];

    public static void Validate(Pmu pmu, in PerfEventAttr attr, string eventText)
    {
        foreach (var (term, needs) in FeatureTerms)
        {
            if (!pmu.Format.TryGetValue(term, out var format) || format.Decode(attr) == 0) continue;
            if (Cap(pmu, needs, NumberStyles.None) is 0)
                throw new EventParseException($"event '{eventText}': term '{term}' needs caps/{needs}, which this CPU does not have");
        }
        foreach (var (term, valuesFile, needs) in PeriodFields)
        {
            if (!pmu.Format.TryGetValue(term, out var format)) continue;
            ulong value = format.Decode(attr);
            ulong allowed = Cap(pmu, valuesFile, NumberStyles.AllowHexSpecifier) ?? ulong.MaxValue;
            if (Cap(pmu, needs, NumberStyles.None) is 0) allowed = 0;
            allowed |= 1;   // 0 is always accepted
            if (value < 64 && (allowed & (1UL << (int)value)) != 0) continue;
            var valid = Enumerable.Range(0, 64).Where(bit => (allowed & (1UL << bit)) != 0);
            throw new EventParseException($"event '{eventText}': {term}={value} is not supported by this CPU; valid values are {string.Join(",", valid)}");
        }
    }

    private static ulong? Cap(Pmu pmu, string name, NumberStyles style) =>
        pmu.Caps.TryGetValue(name, out string? text) && ulong.TryParse(text, style, CultureInfo.InvariantCulture, out ulong v) ? v : null;
}
