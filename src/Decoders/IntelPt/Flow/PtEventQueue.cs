using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>Which packet a queued event waits for (a bit set: an event may bind to any of several).</summary>
[Flags]
internal enum PtEventBinding : byte
{
    None = 0,
    PsbEnd = 1 << 0,
    Tip = 1 << 1,
    Fup = 1 << 2,
    /// <summary>Binds to the next FUP, which then does not start an asynchronous branch.</summary>
    FupBound = 1 << 3,
    Exstop = 1 << 4,
    Cfe = 1 << 5,
    All = 0x3f,
}

/// <summary>
/// Events decoded from packets that must wait for a later packet to complete them (a FUP's IP, the TIP of an async
/// branch, the PSBEND of a header), in arrival order, plus one slot for an event that is complete at once.
/// A fixed ring of 16 (libipt's evq_max) that keeps a gap so the event last taken out stays valid; slots are addressed
/// by index so the whole queue is a plain value the decoder can copy to look ahead and roll back.
/// </summary>
internal struct PtEventQueue
{
    public const int Capacity = 16;
    /// <summary>The slot index of the standalone event.</summary>
    public const int Standalone = Capacity;

    [InlineArray(Capacity + 1)]
    private struct Slots
    {
        private PtEvent _first;
    }

    [InlineArray(Capacity)]
    private struct Bindings
    {
        private PtEventBinding _first;
    }

    private Slots _slots;
    private Bindings _bindings;
    private byte _begin, _end;

    public void Clear()
    {
        _begin = _end = 0;
    }

    [UnscopedRef]
    public ref PtEvent this[int slot] => ref _slots[slot];

    /// <summary>The standalone slot, cleared.</summary>
    public int TakeStandalone()
    {
        _slots[Standalone] = default;
        return Standalone;
    }

    /// <summary>A new cleared event at the end of the queue for <paramref name="binding"/>; -1 when full.</summary>
    public int Enqueue(PtEventBinding binding)
    {
        int idx = _end;
        int end = (idx + 1) % Capacity;
        int gap = (end + 1) % Capacity;
        if (_begin == gap) return -1;
        _end = (byte)end;
        _bindings[idx] = binding;
        _slots[idx] = default;
        return idx;
    }

    /// <summary>Copies <paramref name="slot"/>'s event into a new queue entry for <paramref name="binding"/>.</summary>
    public int Requeue(int slot, PtEventBinding binding)
    {
        PtEvent ev = _slots[slot];
        int idx = Enqueue(binding);
        if (idx < 0) return -1;
        _slots[idx] = ev;
        return idx;
    }

    /// <summary>Removes the first event with any of <paramref name="binding"/>'s bits, keeping the others in order; -1 when none.</summary>
    public int Dequeue(PtEventBinding binding)
    {
        int begin = _begin, end = _end;
        if (begin == end) return -1;
        if ((_bindings[begin] & binding) != 0)
        {
            _begin = (byte)((begin + 1) % Capacity);
            return begin;
        }
        int idx = begin;
        while (true)
        {
            idx = (idx + 1) % Capacity;
            if (idx == end) return -1;
            if ((_bindings[idx] & binding) != 0) break;
        }
        // Move the found entry to the front by shifting the ones before it up by one.
        PtEvent ev = _slots[idx];
        PtEventBinding b = _bindings[idx];
        while (true)
        {
            int prev = (idx + Capacity - 1) % Capacity;
            _slots[idx] = _slots[prev];
            _bindings[idx] = _bindings[prev];
            if (prev == begin) break;
            idx = prev;
        }
        _begin = (byte)idx;
        _slots[begin] = ev;
        _bindings[begin] = b;
        return begin;
    }

    public readonly bool Pending(PtEventBinding binding)
    {
        for (int i = _begin; i != _end; i = (i + 1) % Capacity)
            if ((_bindings[i] & binding) != 0) return true;
        return false;
    }

    /// <summary>The first queued event of <paramref name="type"/> with a matching binding; -1 when none.</summary>
    public int Find(PtEventBinding binding, PtEventType type)
    {
        for (int i = _begin; i != _end; i = (i + 1) % Capacity)
            if ((_bindings[i] & binding) != 0 && _slots[i].Type == type) return i;
        return -1;
    }

    /// <summary>The first queued event with a matching binding, left in place; -1 when none.</summary>
    public readonly int Peek(PtEventBinding binding)
    {
        for (int i = _begin; i != _end; i = (i + 1) % Capacity)
            if ((_bindings[i] & binding) != 0) return i;
        return -1;
    }
}
