using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.Profiles;

/// <summary>
/// Brendan Gregg's folded stacks: one line per distinct stack, frames outermost first joined by ';', a space and
/// the weight ("comm;main;work 123"), lines in ordinal order as stackcollapse-perf.pl prints them. flamegraph.pl,
/// inferno, speedscope and others read it. The format has no room for a header, so the weight's unit is not in it.
/// Lines stream out of the tree already in order, so a profile of any size is written without holding its text.
/// </summary>
public static class FoldedStacksWriter
{
    /// <summary>Every stack with weight of its own, as (frames joined by ';', weight), in ordinal order.</summary>
    public static List<(string Stack, ulong Weight)> Lines(StackProfile profile)
    {
        var lines = new List<(string, ulong)>();
        Walk(profile, (path, weight) => lines.Add((path.ToString(), weight)));
        return lines;
    }

    /// <summary>Writes the lines and returns how many there were.</summary>
    public static int Write(StackProfile profile, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        int count = 0;
        Walk(profile, (path, weight) =>
        {
            output.Write(path);
            output.Write(' ');
            output.Write(weight.ToString(CultureInfo.InvariantCulture));
            output.Write('\n');
            count++;
        });
        return count;
    }

    /// <summary>
    /// Visits every stack with weight of its own in ordinal order of its text. Siblings are taken in the order of
    /// "name;" (every deeper line of a sibling starts so), and a frame's own line ("...;name") goes just before the
    /// first sibling whose name starts with its name: "foo" sorts before "foo.cold;x", which sorts before "foo;x".
    /// An explicit stack keeps very deep stacks (PT recursion) off the call stack.
    /// </summary>
    private static void Walk(StackProfile profile, Action<StringBuilder, ulong> line)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var path = new StringBuilder();
        var work = new Stack<(StackFrameNode Node, int ParentLength, bool OwnLine)>();
        Expand(profile.Root, 0, work);
        while (work.TryPop(out var item))
        {
            path.Length = item.ParentLength;
            if (item.ParentLength > 0) path.Append(';');
            AppendFrame(path, item.Node.Name);
            if (item.OwnLine) line(path, item.Node.Self);
            else Expand(item.Node, path.Length, work);
        }
    }

    /// <summary>Pushes the actions for <paramref name="node"/>'s children, last first.</summary>
    private static void Expand(StackFrameNode node, int pathLength, Stack<(StackFrameNode, int, bool)> work)
    {
        if (node.ChildCount == 0) return;
        var children = node.Children.Select(c => (Node: c, Key: Sanitize(c.Name))).ToList();
        children.Sort((a, b) => CompareKeys(a.Key, b.Key));
        // Where each child's own line goes: before the first sibling whose name starts with this one's.
        var ownLinesBefore = new List<int>[children.Count];
        for (int i = 0; i < children.Count; i++)
        {
            if (children[i].Node.Self == 0) continue;
            int j = i;
            while (j > 0 && children[j - 1].Key.StartsWith(children[i].Key, StringComparison.Ordinal)) j--;
            (ownLinesBefore[j] ??= []).Add(i);
        }
        for (int j = children.Count - 1; j >= 0; j--)
        {
            work.Push((children[j].Node, pathLength, false));
            if (ownLinesBefore[j] is not { } own) continue;
            // Several own lines at one place are prefixes of each other: shortest first.
            own.Sort((a, b) => children[b].Key.Length.CompareTo(children[a].Key.Length));
            foreach (int i in own) work.Push((children[i].Node, pathLength, true));
        }
    }

    /// <summary>Ordinal order of "a;" and "b;".</summary>
    private static int CompareKeys(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        int c = string.CompareOrdinal(a, 0, b, 0, n);
        if (c != 0) return c;
        if (a.Length == b.Length) return 0;
        return a.Length < b.Length ? ';'.CompareTo(b[n]) : a[n].CompareTo(';');
    }

    /// <summary>';' separates frames and a line ends the record: neither may appear inside a name.</summary>
    private static string Sanitize(string name) =>
        name.AsSpan().IndexOfAny(";\n\r") < 0 ? name : name.Replace(';', ':').Replace('\n', ' ').Replace('\r', ' ');

    private static void AppendFrame(StringBuilder path, string name)
    {
        foreach (char c in name)
            path.Append(c switch { ';' => ':', '\n' or '\r' => ' ', _ => c });
    }
}
