using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>PMU_MAPPINGS: u32 nr, then per PMU {u32 type, string name}: which perf_event_attr.type each PMU has.</summary>
public sealed record PmuMappings(IReadOnlyList<(uint Type, string Name)> Pmus)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out PmuMappings? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var pmus = new List<(uint, string)>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.U32(out uint type) || !c.String(out string name)) break;
                pmus.Add((type, name));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new PmuMappings(pmus);
        return true;
    }

    public void Print(StringBuilder sb)
    {
        if (Pmus.Count == 0)
        {
            sb.Append("# pmu mappings: not available\n");
            return;
        }
        sb.Append("# pmu mappings: ");
        for (int i = 0; i < Pmus.Count; i++)
            sb.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? ", " : "")}{Pmus[i].Name} = {Pmus[i].Type}");
        sb.Append('\n');
    }
}
