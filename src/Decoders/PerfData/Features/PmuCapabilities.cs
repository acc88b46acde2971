using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>The capabilities of one PMU (sysfs caps/ files) as "name=value" pairs.</summary>
public sealed record PmuCapabilitySet(string Pmu, IReadOnlyList<string> Capabilities);

/// <summary>
/// CPU_PMU_CAPS: u32 nr then nr {string name, string value} for the "cpu" PMU. PMU_CAPS: u32 nr_pmus then per PMU
/// the same list followed by the PMU's name.
/// </summary>
public sealed record PmuCapabilities(IReadOnlyList<PmuCapabilitySet> Pmus)
{
    public static bool TryParseCpu(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out PmuCapabilities? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = ReadCaps(ref c, out List<string> caps) ? new PmuCapabilities([new PmuCapabilitySet("cpu", caps)]) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    public static bool TryParsePmus(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out PmuCapabilities? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var pmus = new List<PmuCapabilitySet>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!ReadCaps(ref c, out List<string> caps) || !c.String(out string name)) break;
                pmus.Add(new PmuCapabilitySet(name, caps));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new PmuCapabilities(pmus);
        return true;
    }

    private static bool ReadCaps(ref FeatureCursor c, out List<string> caps)
    {
        caps = [];
        if (!c.U32(out uint count)) return false;
        for (uint i = 0; i < count; i++)
        {
            if (!c.String(out string name) || !c.String(out string value)) return false;
            caps.Add($"{name}={value}");
        }
        return true;
    }

    /// <summary>"# PMU pmu capabilities: a=1, b=2" per PMU, or "not available" when it listed none.</summary>
    public void Print(StringBuilder sb)
    {
        foreach (PmuCapabilitySet p in Pmus)
        {
            sb.Append("# ").Append(p.Pmu).Append(" pmu capabilities: ");
            sb.Append(p.Capabilities.Count == 0 ? "not available" : string.Join(", ", p.Capabilities)).Append('\n');
        }
    }
}
