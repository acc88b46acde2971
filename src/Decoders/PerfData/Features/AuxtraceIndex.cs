using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One AUXTRACE record of the data section: its file offset and its size with the AUX payload after it.</summary>
public readonly record struct AuxtraceIndexEntry(ulong FileOffset, ulong Size);

/// <summary>
/// AUXTRACE: the index of the AUXTRACE records, u64 nr then {u64 file_offset, u64 sz}[nr], so a reader can seek
/// straight to the trace. perf only says the file has AUX data; we also list the index (lines of our own).
/// </summary>
public sealed record AuxtraceIndex(IReadOnlyList<AuxtraceIndexEntry> Entries)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out AuxtraceIndex? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var entries = new List<AuxtraceIndexEntry>();
        if (c.U64(out ulong count))
        {
            if (count > (ulong)(c.Remaining / 16)) c.Fail($"{count} index entries do not fit in {c.Remaining} bytes ({FeatureProblem.Truncated})");
            for (ulong i = 0; i < count && c.Problem is null; i++)
                if (c.U64(out ulong offset) && c.U64(out ulong size)) entries.Add(new AuxtraceIndexEntry(offset, size));
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new AuxtraceIndex(entries);
        return true;
    }

    /// <summary>Prefix of the lines that are ours, not perf's.</summary>
    public const string OwnLinePrefix = "# auxtrace index";

    public void Print(StringBuilder sb)
    {
        sb.Append("# contains AUX area data (e.g. instruction trace)\n");
        sb.Append(CultureInfo.InvariantCulture, $"{OwnLinePrefix}: {Entries.Count} entries\n");
        foreach (var e in Entries)
            sb.Append(CultureInfo.InvariantCulture, $"{OwnLinePrefix}:   offset 0x{e.FileOffset:x}, size {e.Size}\n");
    }
}
