using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One NUMA node: memory in kB and its CPUs (normalised as perf's cpu map does).</summary>
public sealed record NumaNode(uint Node, ulong TotalKb, ulong FreeKb, IReadOnlyList<int> Cpus);

/// <summary>NUMA_TOPOLOGY: u32 nr, then per node {u32 node, u64 mem_total, u64 mem_free, string cpu list}.</summary>
public sealed record NumaTopology(IReadOnlyList<NumaNode> Nodes)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out NumaTopology? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var nodes = new List<NumaNode>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.U32(out uint node) || !c.U64(out ulong total) || !c.U64(out ulong free)) break;
                int at = c.Position;
                if (!c.String(out string list)) break;
                if (PerfText.ParseCpuList(list) is not { } cpus)
                {
                    problem = new FeatureProblem(at, $"node {node} has an unreadable cpu list \"{list}\"");
                    return false;
                }
                nodes.Add(new NumaNode(node, total, free, cpus));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new NumaTopology(nodes);
        return true;
    }

    /// <summary>print_numa_topology.</summary>
    public void Print(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (NumaNode n in Nodes)
        {
            sb.Append(inv, $"# node{n.Node} meminfo  : total = {n.TotalKb} kB, free = {n.FreeKb} kB\n");
            sb.Append(inv, $"# node{n.Node} cpu list : {PerfText.FormatCpuList(n.Cpus)}\n");
        }
    }
}
