using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>NRCPUS: u32 nr_cpus_avail (CPUs present), then u32 nr_cpus_online.</summary>
public sealed record CpuCounts(uint Available, uint Online)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out CpuCounts? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.U32(out uint avail) && c.U32(out uint online) ? new CpuCounts(avail, online) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    public void Print(StringBuilder sb) =>
        sb.Append(CultureInfo.InvariantCulture, $"# nrcpus online : {Online}\n# nrcpus avail : {Available}\n");
}
