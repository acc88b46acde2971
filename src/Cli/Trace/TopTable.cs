using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Trace;

/// <summary>
/// `trace --top`: instructions per function, counted from the decoded blocks (a block is charged to the function
/// its first instruction is in; blocks end at branches, so they rarely cross functions). On a terminal the table is
/// redrawn once a second; otherwise only the final table is printed.
/// </summary>
internal sealed class TopTable(TextWriter output, bool live, int rows = 25)
{
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Path, ulong Page), string> _unknown = [];
    private long _last = System.Diagnostics.Stopwatch.GetTimestamp();
    public long Instructions { get; private set; }
    public long SkippedBytes { get; set; }

    public void Count(StreamContext context, MappingSymbols symbols, in PtBlock block)
    {
        string name;
        if (context.MappingAt(block.Ip) is { } map)
        {
            if (!symbols.TryFind(map, block.Ip, out name, out _))
            {
                // No symbol: one row per 4 KiB page of the file, named by it (allocated once per page).
                var key = (map.Path, block.Ip >> 12);
                if (!_unknown.TryGetValue(key, out string? n)) _unknown[key] = n = $"{Path.GetFileName(map.Path)}+0x{(block.Ip & ~0xfffUL) - map.Start + map.PgOff:x}";
                name = n;
            }
        }
        else name = "[unknown]";
        ref long count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_counts, name, out _);
        count += block.InstructionCount;
        Instructions += block.InstructionCount;
    }

    /// <summary>Redraws the table if a second has passed (terminal only).</summary>
    public void MaybeShow()
    {
        if (!live) return;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (now - _last < System.Diagnostics.Stopwatch.Frequency) return;
        _last = now;
        output.Write("\x1b[H\x1b[2J" + Render());
        output.Flush();
    }

    public void ShowFinal()
    {
        output.Write((live ? "\x1b[H\x1b[2J" : "") + Render());
        output.Flush();
    }

    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{Instructions:N0} instructions{(SkippedBytes > 0 ? $" ({SkippedBytes:N0} bytes of trace skipped)" : "")}\n");
        sb.Append("    instructions       %  function\n");
        foreach (var (name, count) in _counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(rows))
            sb.Append(CultureInfo.InvariantCulture, $"{count,16:N0} {100.0 * count / Math.Max(1, Instructions),6:F2}%  {name}\n");
        return sb.ToString();
    }
}
