namespace DotnetPtrace.Decoders.IntelPt.Sideband;

public enum AddressSpaceChangeKind : byte
{
    /// <summary>MMAP/MMAP2: a mapping was added (replacing what it covers).</summary>
    Map,
    /// <summary>COMM with the exec flag: the old image is gone; the new one's mappings follow.</summary>
    Exec,
    /// <summary>FORK of a new process: it starts with a copy of its parent's mappings (<see cref="AddressSpaceChange.Snapshot"/>).</summary>
    Start,
}

/// <summary>
/// One change of an address space at perf time <see cref="Time"/>; <see cref="Seq"/> is its position in the
/// sideband (time order, file order among equal times), for traces without time.
/// </summary>
public sealed record AddressSpaceChange(ulong Time, long Seq, AddressSpaceChangeKind Kind, CodeMapping? Mapping = null, MappingSet? Snapshot = null);

/// <summary>The changes of one address space (a process, or the kernel), in sideband order.</summary>
public sealed class AddressSpaceHistory(int pid)
{
    private readonly List<AddressSpaceChange> _changes = [];

    /// <summary>The process (-1: the kernel).</summary>
    public int Pid { get; } = pid;
    public IReadOnlyList<AddressSpaceChange> Changes => _changes;

    internal void Add(AddressSpaceChange change) => _changes.Add(change);
}

/// <summary>
/// Replays an <see cref="AddressSpaceHistory"/> up to a point: the mappings of that address space then. Moves
/// forward only; going back means <see cref="Reset"/> and replaying (histories are short: one change per mmap).
/// </summary>
public sealed class AddressSpaceCursor
{
    private AddressSpaceHistory? _history;
    private MappingSet _state = new();
    private int _next;

    public AddressSpaceHistory? History => _history;
    public MappingSet State => _state;
    /// <summary>Changes applied so far.</summary>
    public int Position => _next;
    public bool HasPending => _history is not null && _next < _history.Changes.Count;
    public AddressSpaceChange? Pending => HasPending ? _history!.Changes[_next] : null;

    public void Reset(AddressSpaceHistory? history)
    {
        _history = history;
        _state = new MappingSet();
        _next = 0;
    }

    /// <summary>Applies the next change; true when the code (executable mappings) changed.</summary>
    public bool ApplyNext()
    {
        AddressSpaceChange c = _history!.Changes[_next++];
        switch (c.Kind)
        {
            case AddressSpaceChangeKind.Map:
                return _state.Insert(c.Mapping!);
            case AddressSpaceChangeKind.Exec:
            {
                bool had = _state.Mappings.Any(m => m.Exec);
                _state.Clear();
                return had;
            }
            default:
                _state = c.Snapshot!.Clone();
                return true;
        }
    }

    /// <summary>Applies every change at or before perf time <paramref name="time"/>; true when the code changed.</summary>
    public bool AdvanceToTime(ulong time)
    {
        bool changed = false;
        while (HasPending && _history!.Changes[_next].Time <= time) changed |= ApplyNext();
        return changed;
    }

    /// <summary>Applies every change up to sideband position <paramref name="seq"/>; true when the code changed.</summary>
    public bool AdvanceToSeq(long seq)
    {
        bool changed = false;
        while (HasPending && _history!.Changes[_next].Seq <= seq) changed |= ApplyNext();
        return changed;
    }

    /// <summary>Where the cursor stands, to go back to it when a look-ahead did not help.</summary>
    public (MappingSet State, int Next) Save() => (_state.Clone(), _next);

    public void Restore((MappingSet State, int Next) saved)
    {
        _state = saved.State;
        _next = saved.Next;
    }
}
