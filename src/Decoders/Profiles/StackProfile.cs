namespace DotnetPtrace.Decoders.Profiles;

/// <summary>
/// Weighted call stacks merged into a tree (a trie of frame names): every stack is a path from the root to a leaf,
/// and stacks that share a prefix share its nodes, so a node's <see cref="StackFrameNode.Total"/> is the weight of
/// every stack through it. The weight means whatever the producer says it does (<see cref="WeightUnit"/>): sample
/// counts, an event's period, instructions or nanoseconds of an Intel PT trace.
/// </summary>
public sealed class StackProfile(string weightUnit = "samples")
{
    /// <summary>What one unit of weight is, for titles and tooltips ("samples", "ns", "instructions", ...).</summary>
    public string WeightUnit { get; } = weightUnit;

    /// <summary>The common root above every stack (flame graphs call it "all"); its own name is never part of a stack.</summary>
    public StackFrameNode Root { get; } = new("all", parent: null, depth: 0);

    public ulong TotalWeight => Root.Total;

    /// <summary>How many stacks with a frame and a non-zero weight were added.</summary>
    public long StackCount { get; private set; }

    /// <summary>The deepest stack added, in frames (the root not counted).</summary>
    public int MaxDepth { get; private set; }

    public bool IsEmpty => StackCount == 0;

    /// <summary>Adds one stack, outermost frame (root side) first. Empty stacks and zero weights carry nothing to draw and are ignored.</summary>
    public void Add(IReadOnlyList<string> stack, ulong weight)
    {
        ArgumentNullException.ThrowIfNull(stack);
        if (stack.Count == 0 || weight == 0) return;
        StackFrameNode node = Root;
        node.Total += weight;
        for (int i = 0; i < stack.Count; i++)
        {
            node = node.Child(stack[i]);
            node.Total += weight;
        }
        Finish(node, stack.Count, weight);
    }

    /// <summary>Adds one stack, outermost frame first, from a span (no list needed).</summary>
    public void Add(ReadOnlySpan<string> stack, ulong weight)
    {
        if (stack.IsEmpty || weight == 0) return;
        StackFrameNode node = Root;
        node.Total += weight;
        foreach (string frame in stack)
        {
            node = node.Child(frame);
            node.Total += weight;
        }
        Finish(node, stack.Length, weight);
    }

    /// <summary>Adds one stack given innermost frame first, the order of perf callchains.</summary>
    public void AddLeafFirst(ReadOnlySpan<string> leafFirst, ulong weight)
    {
        if (leafFirst.IsEmpty || weight == 0) return;
        StackFrameNode node = Root;
        node.Total += weight;
        for (int i = leafFirst.Length - 1; i >= 0; i--)
        {
            node = node.Child(leafFirst[i]);
            node.Total += weight;
        }
        Finish(node, leafFirst.Length, weight);
    }

    private void Finish(StackFrameNode leaf, int depth, ulong weight)
    {
        leaf.Self += weight;
        StackCount++;
        if (depth > MaxDepth) MaxDepth = depth;
    }
}

/// <summary>One frame of a <see cref="StackProfile"/> at one place in the call tree.</summary>
public sealed class StackFrameNode
{
    /// <summary>Most frames have a few callees: a short array searched in order beats a dictionary in time and memory.</summary>
    private const int SmallChildren = 8;

    private StackFrameNode[]? _small;
    private int _smallCount;
    private Dictionary<string, StackFrameNode>? _many;

    internal StackFrameNode(string name, StackFrameNode? parent, int depth)
    {
        Name = name;
        Parent = parent;
        Depth = depth;
    }

    public string Name { get; }
    public StackFrameNode? Parent { get; }

    /// <summary>0 for the root, 1 for the outermost frames of the stacks.</summary>
    public int Depth { get; }

    /// <summary>Weight of every stack that passes through (or ends at) this frame.</summary>
    public ulong Total { get; internal set; }

    /// <summary>Weight of the stacks that end here: this frame was the innermost one.</summary>
    public ulong Self { get; internal set; }

    public int ChildCount => _many?.Count ?? _smallCount;

    public IEnumerable<StackFrameNode> Children =>
        _many is not null ? _many.Values : _small is null ? [] : _small.Take(_smallCount);

    /// <summary>Children in ordinal name order, the x-axis order of flame graphs.</summary>
    public IEnumerable<StackFrameNode> ChildrenByName() => Children.OrderBy(c => c.Name, StringComparer.Ordinal);

    /// <summary>Children heaviest first (ties by name), the order of call trees.</summary>
    public IEnumerable<StackFrameNode> ChildrenByWeight() =>
        Children.OrderByDescending(c => c.Total).ThenBy(c => c.Name, StringComparer.Ordinal);

    public StackFrameNode? Find(string name)
    {
        if (_many is not null) return _many.GetValueOrDefault(name);
        for (int i = 0; i < _smallCount; i++)
            if (string.Equals(_small![i].Name, name, StringComparison.Ordinal)) return _small[i];
        return null;
    }

    internal StackFrameNode Child(string name)
    {
        if (_many is null)
        {
            // Callers reuse one string per frame name, so the reference test usually decides at once.
            for (int i = 0; i < _smallCount; i++)
            {
                StackFrameNode c = _small![i];
                if (ReferenceEquals(c.Name, name) || string.Equals(c.Name, name, StringComparison.Ordinal)) return c;
            }
            var child = new StackFrameNode(name, this, Depth + 1);
            if (_smallCount < SmallChildren)
            {
                _small ??= new StackFrameNode[2];
                if (_smallCount == _small.Length) Array.Resize(ref _small, _small.Length * 2);
                _small[_smallCount++] = child;
                return child;
            }
            _many = new Dictionary<string, StackFrameNode>(2 * SmallChildren, StringComparer.Ordinal);
            for (int i = 0; i < _smallCount; i++) _many[_small![i].Name] = _small[i];
            _small = null;
            _smallCount = 0;
            _many[name] = child;
            return child;
        }
        if (!_many.TryGetValue(name, out StackFrameNode? found))
            _many[name] = found = new StackFrameNode(name, this, Depth + 1);
        return found;
    }

    public override string ToString() => $"{Name} ({Total})";
}
