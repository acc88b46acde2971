using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>SAMPLE_TIME: u64 time of the first sample, u64 time of the last (perf clock, nanoseconds).</summary>
public sealed record SampleTimes(ulong FirstNs, ulong LastNs)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out SampleTimes? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.U64(out ulong first) && c.U64(out ulong last) ? new SampleTimes(first, last) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    /// <summary>print_sample_time; the duration is (last - first) in u64 arithmetic, as perf computes it.</summary>
    public void Print(StringBuilder sb)
    {
        double ms = unchecked(LastNs - FirstNs) / 1e6;
        sb.Append("# time of first sample : ").Append(PerfText.SecondsDotMicros(FirstNs)).Append('\n');
        sb.Append("# time of last sample : ").Append(PerfText.SecondsDotMicros(LastNs)).Append('\n');
        sb.Append(CultureInfo.InvariantCulture, $"# sample duration : {ms,10:F3} ms\n");
    }
}
