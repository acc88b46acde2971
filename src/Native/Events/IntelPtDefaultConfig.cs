using System.Globalization;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// The config perf starts from for an intel_pt event before applying the user's terms
/// (tools/perf/arch/x86/util/intel-pt.c intel_pt_default_config), so "intel_pt//u" gets timing packets exactly as
/// with perf: tsc; mtc with the supported MTC period nearest 3 (if caps/mtc); psb_period nearest 3 (if caps/psb_cyc);
/// and pt,branch when the kernel has those terms. On a typical CPU that is config 0x300e601.
/// </summary>
public static class IntelPtDefaultConfig
{
    public const string PmuName = "intel_pt";

    /// <summary>The default terms for this intel_pt PMU, to be applied before the user's own.</summary>
    public static IReadOnlyList<(string Term, ulong? Value)> Terms(Pmu intelPt)
    {
        ArgumentNullException.ThrowIfNull(intelPt);
        var terms = new List<(string Term, ulong? Value)> { ("tsc", null) };

        // perf assumes a capability is present when its caps file cannot be read.
        bool hasMtc = ReadCap(intelPt, "mtc", NumberStyles.None) is not 0;
        ulong mtcPeriods = hasMtc ? ReadCap(intelPt, "mtc_periods", NumberStyles.AllowHexSpecifier) ?? 0 : 0;
        if (mtcPeriods != 0)
        {
            terms.Add(("mtc", null));
            terms.Add(("mtc_period", PickBit(mtcPeriods, 3)));
        }

        bool hasPsbCyc = ReadCap(intelPt, "psb_cyc", NumberStyles.None) is not 0;
        if (hasPsbCyc && mtcPeriods != 0)
        {
            ulong psbPeriods = ReadCap(intelPt, "psb_periods", NumberStyles.AllowHexSpecifier) ?? 0;
            if (psbPeriods != 0)
                terms.Add(("psb_period", PickBit(psbPeriods, 3)));
        }

        if (intelPt.Format.ContainsKey("pt") && intelPt.Format.ContainsKey("branch"))
        {
            terms.Add(("pt", null));
            terms.Add(("branch", null));
        }

        // A kernel without one of these terms would make perf's default parse fail; keep what the PMU has.
        return terms.Where(t => intelPt.Format.ContainsKey(t.Term)).ToList();
    }

    /// <summary>
    /// perf's intel_pt_pick_bit: among the set bits of a caps bitmap (bit n set = value n supported), the highest one
    /// not above <paramref name="target"/>, or the lowest one if all are above.
    /// </summary>
    public static ulong PickBit(ulong bits, int target)
    {
        int pick = -1;
        for (int position = 0; bits != 0; bits >>= 1, position++)
        {
            if ((bits & 1) == 0)
                continue;
            if (position <= target || pick < 0)
                pick = position;
            if (position >= target)
                break;
        }

        return (ulong)pick;
    }

    private static ulong? ReadCap(Pmu pmu, string name, NumberStyles style) =>
        pmu.Caps.TryGetValue(name, out string? text)
        && ulong.TryParse(text, style, CultureInfo.InvariantCulture, out ulong value) ? value : null;
}
