using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.Profiles;

/// <summary>
/// Brendan Gregg's folded stacks: one line per distinct stack, frames outermost first joined by ';', a space and
/// the weight ("comm;main;work 123"), lines in ordinal order as stackcollapse-perf.pl prints them. flamegraph.pl,
/// inferno, speedscope and others read it. The format has no room for a header, so the weight's unit is not in it.
/// </summary>
public static class FoldedStacksWriter
{
    /// <summary>Every stack with weight of its own, as (frames joined by ';', weight), in ordinal order.</summary>
    public static List<(string Stack, ulong Weight)> Lines(StackProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var lines = new List<(string, ulong)>();
        Collect(profile.Root, lines);
        lines.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return lines;
    }

    public static void Write(StackProfile profile, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        foreach (var (stack, weight) in Lines(profile))
        {
            output.Write(stack);
            output.Write(' ');
            output.Write(weight.ToString(CultureInfo.InvariantCulture));
            output.Write('\n');
        }
    }

    private static void Collect(StackFrameNode root, List<(string, ulong)> lines)
    {
        // An explicit stack of (node, length of its parent's path) keeps very deep stacks (PT recursion) off the
        // call stack; the root's own name is not part of any stack.
        var path = new StringBuilder();
        var work = new Stack<(StackFrameNode Node, int PathLength)>();
        foreach (StackFrameNode child in root.Children) work.Push((child, 0));
        while (work.TryPop(out var item))
        {
            path.Length = item.PathLength;
            if (item.PathLength > 0) path.Append(';');
            AppendFrame(path, item.Node.Name);
            if (item.Node.Self > 0) lines.Add((path.ToString(), item.Node.Self));
            int length = path.Length;
            foreach (StackFrameNode child in item.Node.Children) work.Push((child, length));
        }
    }

    /// <summary>';' separates frames and a line ends the record: neither may appear inside a name.</summary>
    private static void AppendFrame(StringBuilder path, string name)
    {
        foreach (char c in name)
            path.Append(c switch { ';' => ':', '\n' or '\r' => ' ', _ => c });
    }
}
