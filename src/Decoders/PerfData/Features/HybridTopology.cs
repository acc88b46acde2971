using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>HYBRID_TOPOLOGY: u32 nr, then per core type {string pmu name, string cpu list}.</summary>
public sealed record HybridTopology(IReadOnlyList<(string Pmu, string Cpus)> Nodes)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out HybridTopology? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var nodes = new List<(string, string)>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.String(out string pmu) || !c.String(out string cpus)) break;
                nodes.Add((pmu, cpus));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new HybridTopology(nodes);
        return true;
    }

    public void Print(StringBuilder sb)
    {
        sb.Append("# hybrid cpu system:\n");
        foreach (var (pmu, cpus) in Nodes) sb.Append("# ").Append(pmu).Append(" cpu list : ").Append(cpus).Append('\n');
    }
}
