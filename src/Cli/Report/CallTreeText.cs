using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.Profiles;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// The call tree of a sample report as indented text, callers first (process, main, ..., hottest callee), each
/// line the share of the event's total spent in that frame and below. Branches under a minimum share are left
/// out so the hot paths stand out; a chain of single calls stays one level deeper per call.
/// </summary>
public static class CallTreeText
{
    public const double DefaultMinPercent = 0.5;
    private const int MaxDepth = 64;

    public static string Format(StackProfile profile, string eventName, TerminalColour colour, double minPercent = DefaultMinPercent)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(colour);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# Call tree of '{eventName}' (callers first; branches under {minPercent:0.##}% left out)\n#\n");
        ulong total = profile.TotalWeight;
        if (total == 0) return sb.Append("# No call stacks\n\n").ToString();
        var work = new Stack<StackFrameNode>();
        foreach (var child in profile.Root.ChildrenByWeight().Reverse()) work.Push(child);
        while (work.TryPop(out var node))
        {
            double share = 100.0 * node.Total / total;
            if (share < minPercent) continue;
            int depth = node.Depth - 1;
            sb.Append(colour.Percent(share, share.ToString("F2", CultureInfo.InvariantCulture).PadLeft(7) + "%"));
            sb.Append("  ").Append(' ', 2 * Math.Min(depth, MaxDepth));
            sb.Append(depth == 0 ? colour.Strong(node.Name) : node.Name);
            if (node.Self > 0 && node.ChildCount > 0)
                sb.Append(colour.Faint(string.Create(CultureInfo.InvariantCulture, $"  (self {100.0 * node.Self / total:F2}%)")));
            sb.Append('\n');
            foreach (var child in node.ChildrenByWeight().Reverse()) work.Push(child);
        }
        return sb.Append('\n').ToString();
    }
}
