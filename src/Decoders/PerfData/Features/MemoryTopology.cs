using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One memory node: which memory blocks (of the topology's block size) belong to it, as a bitmap.</summary>
public sealed record MemoryNode(ulong Node, ulong BitCount, ulong[] Blocks);

/// <summary>
/// MEM_TOPOLOGY: u64 version (1), u64 block size, u64 nr, then per node {u64 node, u64 size, bitmap}, where a
/// bitmap is u64 bit count then that many bits in u64 words (the bitmap's own count is the one perf keeps).
/// </summary>
public sealed record MemoryTopology(ulong BlockSize, IReadOnlyList<MemoryNode> Nodes)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out MemoryTopology? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var nodes = new List<MemoryNode>();
        ulong blockSize = 0;
        if (c.U64(out ulong version))
        {
            if (version != 1) c.FailAt(c.Position - 8, $"unsupported version {version}");
            else if (c.U64(out blockSize) && c.U64(out ulong count))
            {
                for (ulong i = 0; i < count; i++)
                {
                    if (!c.U64(out ulong node) || !c.U64(out _) || !c.U64(out ulong bits)) break;
                    ulong words = bits / 64 + (bits % 64 == 0 ? 0UL : 1UL);
                    if (words > (ulong)(c.Remaining / 8)) { c.Fail(FeatureProblem.Truncated); break; }
                    var set = new ulong[words];
                    for (int w = 0; w < set.Length; w++) c.U64(out set[w]);
                    nodes.Add(new MemoryNode(node, bits, set));
                }
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new MemoryTopology(blockSize, nodes);
        return true;
    }

    /// <summary>print_mem_topology: "#  %3lu [size]: blocks", the block list cut at 99 characters as perf's buffer does.</summary>
    public void Print(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"# memory nodes (nr {(int)Nodes.Count}, block size 0x{BlockSize:x}):\n");
        foreach (MemoryNode n in Nodes)
        {
            ulong bytes = unchecked(BlockSize * PerfText.BitCount(n.Blocks, n.BitCount));
            sb.Append(inv, $"#  {n.Node,3} [{PerfText.UnitNumber(bytes)}]: {PerfText.FormatBitmap(n.Blocks, n.BitCount, 99)}\n");
        }
    }
}
