using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>COMPRESSED: u32 version, type (1 = Zstd), level, ratio, mmap_len.</summary>
public sealed record CompressionInfo(uint Version, uint Type, uint Level, uint Ratio, uint MmapLength)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out CompressionInfo? value, out FeatureProblem problem)
    {
        var c = new FeatureCursor(payload);
        value = c.U32(out uint version) && c.U32(out uint type) && c.U32(out uint level) && c.U32(out uint ratio) && c.U32(out uint mmap)
            ? new CompressionInfo(version, type, level, ratio, mmap) : null;
        problem = c.Problem ?? default;
        return value is not null;
    }

    public void Print(StringBuilder sb) =>
        sb.Append(CultureInfo.InvariantCulture, $"# compressed : {(Type == 1 ? "Zstd" : "Unknown")}, level = {(int)Level}, ratio = {(int)Ratio}\n");
}
