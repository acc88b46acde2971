using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>HOSTNAME, OSRELEASE, VERSION, ARCH, CPUDESC, CPUID: one perf_header_string each.</summary>
public sealed record TextFeature(HeaderFeature Feature, string Value)
{
    public static bool TryParse(HeaderFeature feature, ReadOnlySpan<byte> payload, [NotNullWhen(true)] out TextFeature? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.String(out string s) ? new TextFeature(feature, s) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    /// <summary>The label perf prints before the value ("# os release : 6.1.0").</summary>
    public string Label => Feature switch
    {
        HeaderFeature.Hostname => "hostname",
        HeaderFeature.OsRelease => "os release",
        HeaderFeature.Version => "perf version",
        HeaderFeature.Arch => "arch",
        HeaderFeature.CpuDesc => "cpudesc",
        HeaderFeature.CpuId => "cpuid",
        _ => FeatureNames.Of(Feature),
    };

    public void Print(StringBuilder sb) => sb.Append("# ").Append(Label).Append(" : ").Append(Value).Append('\n');
}
