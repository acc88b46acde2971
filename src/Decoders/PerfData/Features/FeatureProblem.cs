namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>Where a feature payload stopped making sense: a byte offset inside the payload and what was wrong.</summary>
public readonly record struct FeatureProblem(int PayloadOffset, string Reason)
{
    public const string Truncated = "truncated";
}
