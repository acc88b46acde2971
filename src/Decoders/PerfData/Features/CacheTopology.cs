using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One CPU cache as sysfs describes it; Size is text ("48K"), SharedCpus a CPU list.</summary>
public sealed record CacheLevel(uint Level, uint LineSize, uint Sets, uint Ways, string Type, string Size, string SharedCpus);

/// <summary>CACHE: u32 version (1), u32 nr, then per cache {u32 level, line_size, sets, ways; strings type, size, map}.</summary>
public sealed record CacheTopology(IReadOnlyList<CacheLevel> Caches)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out CacheTopology? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var caches = new List<CacheLevel>();
        if (c.U32(out uint version))
        {
            if (version != 1) { c.FailAt(c.Position - 4, $"unsupported version {version}"); }
            else if (c.U32(out uint count))
            {
                for (uint i = 0; i < count; i++)
                {
                    if (!c.U32(out uint level) || !c.U32(out uint line) || !c.U32(out uint sets) || !c.U32(out uint ways)
                        || !c.String(out string type) || !c.String(out string size) || !c.String(out string map)) break;
                    caches.Add(new CacheLevel(level, line, sets, ways, type, size, map));
                }
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new CacheTopology(caches);
        return true;
    }

    /// <summary>print_cache: "#  L%d %-15s %8s [%s]".</summary>
    public void Print(StringBuilder sb)
    {
        sb.Append("# CPU cache info:\n");
        foreach (CacheLevel l in Caches)
            sb.Append(CultureInfo.InvariantCulture, $"#  L{(int)l.Level} {l.Type,-15} {l.Size,8} [{l.SharedCpus}]\n");
    }
}
