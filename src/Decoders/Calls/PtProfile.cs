namespace DotnetPtrace.Decoders.Calls;

/// <summary>One thread's calling-context tree.</summary>
public sealed record PtThreadProfile(int Pid, int Tid, string? Comm, CallTreeNode Root);

/// <summary>
/// What one function cost over the whole trace. Self: in the function itself. Total: with its callees, counted once
/// per outermost activation (a recursive function's inner calls are already inside its outer one).
/// </summary>
public sealed record PtFunctionCost(string Name, ulong Calls, ulong SelfInstructions, ulong Instructions, ulong SelfNanoseconds, ulong Nanoseconds);

/// <summary>
/// A profile from Intel PT: every thread's calls as calling-context trees, exact in instructions and as fine in time
/// as the trace's timing packets. Gives the hottest functions and folded stacks (instructions or ns as weights).
/// </summary>
public sealed class PtProfile
{
    private readonly Dictionary<int, PtThreadProfile> _threads = [];

    public IReadOnlyCollection<PtThreadProfile> Threads => _threads.Values;

    /// <summary>Adds a thread's tree (merged into what the same thread already has, from another stream).</summary>
    public void Add(int pid, int tid, string? comm, CallTreeNode root)
    {
        if (_threads.TryGetValue(tid, out PtThreadProfile? have)) have.Root.Merge(root);
        else _threads[tid] = new PtThreadProfile(pid, tid, comm, root);
    }

    /// <summary>
    /// Folded stacks: every distinct path of calls (outermost first) with the instructions and ns spent in its last
    /// function itself; paths with neither are left out. Threads are merged unless <paramref name="threadFrame"/>,
    /// which puts "comm-tid" (or "tid") in front of each stack as perf's stackcollapse does with the command.
    /// </summary>
    public IEnumerable<(IReadOnlyList<string> Stack, ulong Instructions, ulong Nanoseconds)> Folded(bool threadFrame = false)
    {
        var merged = new CallTreeNode("");
        foreach (PtThreadProfile t in _threads.Values.OrderBy(t => t.Tid))
        {
            CallTreeNode under = threadFrame ? merged.Child(t.Comm is null ? $"{t.Tid}" : $"{t.Comm}-{t.Tid}") : merged;
            foreach (CallTreeNode c in t.Root.Children) under.Child(c.Name).Merge(c);
        }
        var path = new List<string>();
        var stack = new Stack<(CallTreeNode Node, int Depth)>();
        foreach (CallTreeNode c in merged.Children.OrderBy(n => n.Name, StringComparer.Ordinal).Reverse()) stack.Push((c, 0));
        while (stack.Count > 0)
        {
            var (node, depth) = stack.Pop();
            path.RemoveRange(depth, path.Count - depth);
            path.Add(node.Name);
            if (node.SelfInstructions != 0 || node.SelfNanoseconds != 0)
                yield return (path.ToArray(), node.SelfInstructions, node.SelfNanoseconds);
            foreach (CallTreeNode c in node.Children.OrderBy(n => n.Name, StringComparer.Ordinal).Reverse()) stack.Push((c, depth + 1));
        }
    }

    /// <summary>Every function's cost over all threads, hottest (self instructions) first.</summary>
    public IReadOnlyList<PtFunctionCost> Functions()
    {
        var costs = new Dictionary<string, (ulong Calls, ulong Self, ulong Total, ulong SelfNs, ulong TotalNs)>(StringComparer.Ordinal);
        var onPath = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (PtThreadProfile t in _threads.Values)
            foreach (CallTreeNode c in t.Root.Children) Visit(c);
        return [.. costs.Select(kv => new PtFunctionCost(kv.Key, kv.Value.Calls, kv.Value.Self, kv.Value.Total, kv.Value.SelfNs, kv.Value.TotalNs))
            .OrderByDescending(c => c.SelfInstructions).ThenByDescending(c => c.SelfNanoseconds).ThenBy(c => c.Name, StringComparer.Ordinal)];

        void Visit(CallTreeNode node)
        {
            var c = costs.GetValueOrDefault(node.Name);
            bool outermost = onPath.GetValueOrDefault(node.Name) == 0;
            costs[node.Name] = (c.Calls + node.Calls, c.Self + node.SelfInstructions, c.Total + (outermost ? node.Instructions : 0),
                c.SelfNs + node.SelfNanoseconds, c.TotalNs + (outermost ? node.Nanoseconds : 0));
            onPath[node.Name] = onPath.GetValueOrDefault(node.Name) + 1;
            foreach (CallTreeNode child in node.Children) Visit(child);
            onPath[node.Name]--;
        }
    }
}
