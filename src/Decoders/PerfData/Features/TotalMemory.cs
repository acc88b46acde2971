using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>TOTAL_MEM: u64 MemTotal from /proc/meminfo, in kB.</summary>
public sealed record TotalMemory(ulong Kilobytes)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out TotalMemory? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.U64(out ulong kb) ? new TotalMemory(kb) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    public void Print(StringBuilder sb) => sb.Append(CultureInfo.InvariantCulture, $"# total memory : {Kilobytes} kB\n");
}
