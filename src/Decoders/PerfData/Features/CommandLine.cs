using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>CMDLINE: a string list, the perf binary's path first, then its arguments.</summary>
public sealed record CommandLine(IReadOnlyList<string> Arguments)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out CommandLine? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.StringList(out List<string> args) ? new CommandLine(args) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    /// <summary>Each argument followed by a space, single quotes escaped as \' (print_cmdline).</summary>
    public void Print(StringBuilder sb)
    {
        sb.Append("# cmdline : ");
        foreach (string a in Arguments) sb.Append(a.Replace("'", "\\'", StringComparison.Ordinal)).Append(' ');
        sb.Append('\n');
    }
}
