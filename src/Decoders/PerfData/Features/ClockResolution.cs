using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>CLOCKID: u64 resolution of the -k clock in nanoseconds.</summary>
public sealed record ClockResolution(ulong ResolutionNs)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out ClockResolution? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.U64(out ulong ns) ? new ClockResolution(ns) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    /// <summary>perf 6.1 prints resolution_ns * 1000 and calls it MHz (a 1 ns clock shows as "1000 MHz").</summary>
    public void Print(StringBuilder sb) => sb.Append(CultureInfo.InvariantCulture, $"# clockid frequency: {unchecked(ResolutionNs * 1000)} MHz\n");
}
