using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>DIR_FORMAT: u64 version of a directory recording (perf record --threads: data plus data.N files).</summary>
public sealed record DirectoryFormat(ulong Version)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out DirectoryFormat? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.U64(out ulong v) ? new DirectoryFormat(v) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    public void Print(StringBuilder sb) => sb.Append(CultureInfo.InvariantCulture, $"# directory data version : {Version}\n");
}
