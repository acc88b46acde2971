namespace DotnetPtrace.Decoders.Calls;

/// <summary>
/// A node of a calling-context tree: one function reached by one path of calls, with what it took there over all
/// its calls on that path. Instructions and nanoseconds are totals (its callees included) and self (without them).
/// </summary>
public sealed class CallTreeNode(string name)
{
    private Dictionary<string, CallTreeNode>? _children;

    public string Name { get; } = name;
    public ulong Calls { get; set; }
    public ulong Instructions { get; set; }
    public ulong SelfInstructions { get; set; }
    public ulong Nanoseconds { get; set; }
    public ulong SelfNanoseconds { get; set; }

    public IReadOnlyCollection<CallTreeNode> Children => _children is null ? [] : _children.Values;

    public CallTreeNode Child(string name)
    {
        _children ??= new Dictionary<string, CallTreeNode>(StringComparer.Ordinal);
        if (!_children.TryGetValue(name, out CallTreeNode? c)) _children[name] = c = new CallTreeNode(name);
        return c;
    }

    /// <summary>Adds <paramref name="other"/>'s figures and children (recursively) into this node.</summary>
    public void Merge(CallTreeNode other)
    {
        Calls += other.Calls;
        Instructions += other.Instructions;
        SelfInstructions += other.SelfInstructions;
        Nanoseconds += other.Nanoseconds;
        SelfNanoseconds += other.SelfNanoseconds;
        if (other._children is null) return;
        foreach (CallTreeNode c in other._children.Values) Child(c.Name).Merge(c);
    }

    internal Dictionary<string, CallTreeNode>? TakeChildren()
    {
        var c = _children;
        _children = null;
        return c;
    }

    internal void SetChildren(Dictionary<string, CallTreeNode>? children) => _children = children;
}

/// <summary>
/// Builds one thread's calling-context tree from its reconstructed calls. A made-up caller (a trace that began
/// mid-stack) adopts everything its part of the trace recorded so far; each part is merged into the thread's tree
/// when the next begins, or at <see cref="Finish"/>.
/// </summary>
public sealed class CallTreeBuilder(Func<ulong, string> nameOf) : ICallSink
{
    private readonly List<CallTreeNode> _path = [];
    private CallTreeNode _part = new("");

    /// <summary>The thread's tree: its root has no name and no figures of its own; its children are the outermost frames.</summary>
    public CallTreeNode Root { get; } = new("");

    /// <summary>Marks (gaps, errors, overflows) seen, by kind.</summary>
    public int[] Marks { get; } = new int[Enum.GetValues<CallMarkKind>().Length];

    public void OnEnter(in CallFrame frame)
    {
        string name = nameOf(frame.Function);
        if (frame.Kind == CallEnterKind.Caller)
        {
            // Everything of this part so far ran inside the new outermost frame.
            var node = new CallTreeNode(name) { Calls = 1 };
            node.SetChildren(_part.TakeChildren());
            _part.SetChildren(new Dictionary<string, CallTreeNode>(StringComparer.Ordinal) { [name] = node });
            _path.Clear();
            _path.Add(node);
            return;
        }
        if (frame.Kind == CallEnterKind.TraceStart && _path.Count == 0) FlushPart();
        CallTreeNode parent = _path.Count > 0 ? _path[^1] : _part;
        CallTreeNode child = parent.Child(name);
        child.Calls++;
        _path.Add(child);
    }

    public void OnExit(in CallFrame frame, in CallExit exit)
    {
        if (_path.Count == 0) return;
        CallTreeNode node = _path[^1];
        _path.RemoveAt(_path.Count - 1);
        node.Instructions += exit.Instructions;
        node.SelfInstructions += exit.SelfInstructions;
        node.Nanoseconds += exit.Nanoseconds;
        node.SelfNanoseconds += exit.SelfNanoseconds;
    }

    public void OnMark(CallMarkKind kind, ulong time, ulong ip) => Marks[(int)kind]++;

    /// <summary>Call after the thread's last call: merges the last part of the trace into <see cref="Root"/>.</summary>
    public CallTreeNode Finish()
    {
        FlushPart();
        return Root;
    }

    private void FlushPart()
    {
        foreach (CallTreeNode c in _part.Children) Root.Child(c.Name).Merge(c);
        _part = new CallTreeNode("");
    }
}
