using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.Calls;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// The text of a PT report: the hottest functions by self instructions (with self and total time, and calls), then
/// with --children each thread's call tree, children hottest first (total instructions), cut below a share of the
/// thread (--percent-limit). Colours are ANSI SGR, only when asked.
/// </summary>
internal static class PtReportPrinter
{
    private const string Reset = "\e[0m", Bold = "\e[1m", Red = "\e[31m", Yellow = "\e[33m", Dim = "\e[2m";
    private const int MaxTreeDepth = 200;

    public static string Format(PtProfile profile, bool children, int top, bool color, double cutoff)
    {
        var sb = new StringBuilder();
        IReadOnlyList<PtFunctionCost> functions = profile.Functions();
        ulong total = 0, totalNs = 0;
        foreach (PtFunctionCost f in functions)
        {
            total += f.SelfInstructions;
            totalNs += f.SelfNanoseconds;
        }
        Append(sb, $"# Intel PT: {profile.Threads.Count} thread(s), {total:N0} instructions, {Ns(totalNs)} of traced time, {functions.Count:N0} functions\n");
        Append(sb, $"# Self: in the function itself; Total: with what it called (once per outermost call). Time as fine as the trace's timing packets.\n#\n");
        Append(sb, $"# {"Self insn",14} {"Self%",7} {"Total insn",14} {"Total%",7} {"Self time",11} {"Total time",11} {"Calls",9}  Function\n");
        foreach (PtFunctionCost f in functions.Take(top))
        {
            double self = Share(f.SelfInstructions, total);
            string line = string.Create(CultureInfo.InvariantCulture,
                $"  {f.SelfInstructions,14:N0} {self * 100,6:F2}% {f.Instructions,14:N0} {Share(f.Instructions, total) * 100,6:F2}% {Ns(f.SelfNanoseconds),11} {Ns(f.Nanoseconds),11} {f.Calls,9:N0}  ");
            sb.Append(Paint(line, self, color));
            sb.Append(color ? Bold + f.Name + Reset : f.Name).Append('\n');
        }
        if (functions.Count > top) Append(sb, $"  ... {functions.Count - top:N0} more functions\n");
        if (!children) return sb.ToString();

        foreach (PtThreadProfile t in profile.Threads.OrderBy(t => t.Tid))
        {
            ulong threadTotal = 0;
            foreach (CallTreeNode c in t.Root.Children) threadTotal += c.Instructions;
            Append(sb, $"\n# Call tree of {t.Comm ?? "thread"} {t.Tid} (pid {t.Pid}): total instructions, share of the thread, self, time, calls\n");
            foreach (CallTreeNode c in t.Root.Children.OrderByDescending(c => c.Instructions)) Tree(sb, c, 0, threadTotal, color, cutoff);
        }
        return sb.ToString();
    }

    private static void Tree(StringBuilder sb, CallTreeNode node, int depth, ulong threadTotal, bool color, double cutoff)
    {
        double share = Share(node.Instructions, threadTotal);
        if (share < cutoff && depth > 0) return;
        string indent = new(' ', 2 * Math.Min(depth, MaxTreeDepth));
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{node.Instructions,14:N0} {share * 100,6:F2}% {node.SelfInstructions,12:N0} {Ns(node.Nanoseconds),11} {node.Calls,8:N0}  {indent}");
        sb.Append(Paint(line, share, color)).Append(node.Name).Append('\n');
        foreach (CallTreeNode c in node.Children.OrderByDescending(c => c.Instructions)) Tree(sb, c, depth + 1, threadTotal, color, cutoff);
    }

    private static string Paint(string text, double share, bool color) =>
        !color ? text : share >= 0.10 ? Red + text + Reset : share >= 0.01 ? Yellow + text + Reset : Dim + text + Reset;

    private static double Share(ulong part, ulong whole) => whole == 0 ? 0 : (double)part / whole;

    /// <summary>A duration with a unit a person reads at a glance.</summary>
    private static string Ns(ulong ns) => ns switch
    {
        >= 10_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{ns / 1e9:F1} s"),
        >= 10_000_000 => string.Create(CultureInfo.InvariantCulture, $"{ns / 1e6:F1} ms"),
        >= 10_000 => string.Create(CultureInfo.InvariantCulture, $"{ns / 1e3:F1} us"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{ns} ns"),
    };

    private static void Append(StringBuilder sb, FormattableString s) => sb.Append(s.ToString(CultureInfo.InvariantCulture));
}
