namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>
/// Decides which near RETs may be sent as a taken TNT bit instead of a TIP (return compression).
/// <para>
/// The SDM ("Indirect Transfer Compression for Returns") describes the decoder's side: keep the next IP of each near
/// CALL (except zero-length calls, CALL to the next instruction) on a stack of the youngest 64; a compressed RET
/// returns to the top entry. The processor compresses a RET only when its target is the next IP of the
/// corresponding CALL, and only for CALLs seen since the last PSB.
/// </para>
/// <para>
/// The two decoders we must satisfy keep that stack differently: Linux perf pops on every RET and clears at PSB
/// (unbounded otherwise); libipt pops only on compressed RETs and keeps 64 entries across PSBs. A RET is compressed
/// here only when both would pop its target: the SDM stack (<see cref="_hardware"/>: 64 entries, pop on every RET,
/// cleared at PSB, the youngest part of perf's) and libipt's (<see cref="_libipt"/>) agree on the top. They agree
/// unless a RET went somewhere else than its call's next IP (longjmp, a rewritten return address, a signal frame),
/// and there a TIP is what keeps every decoder right.
/// </para>
/// <para>
/// The stacks live on across TIP.PGD/TIP.PGE (system calls, signals): neither decoder clears its stack there, and
/// the SDM names only PSB as the point after which older CALLs no longer count.
/// </para>
/// </summary>
internal sealed class ReturnCompression
{
    private readonly BoundedStack _hardware = new();
    private readonly BoundedStack _libipt = new();

    public void Reset()
    {
        _hardware.Clear();
        _libipt.Clear();
    }

    /// <summary>A PSB: the processor compresses only RETs of CALLs made after it.</summary>
    public void OnPsb() => _hardware.Clear();

    /// <summary>A near CALL with next IP <paramref name="returnAddress"/> (not for zero-length calls).</summary>
    public void OnCall(ulong returnAddress)
    {
        _hardware.Push(returnAddress);
        _libipt.Push(returnAddress);
    }

    /// <summary>A near RET to <paramref name="target"/>: true when it is sent compressed (both stacks popped).</summary>
    public bool TryCompress(ulong target, bool enabled)
    {
        bool compress = enabled && _hardware.Top(out ulong h) && h == target && _libipt.Top(out ulong l) && l == target;
        _hardware.Pop();
        if (compress) _libipt.Pop();
        return compress;
    }

    /// <summary>A near RET whose target is not traced (tracing stops at it): the processor's stack still pops.</summary>
    public void OnUntracedReturn() => _hardware.Pop();

    /// <summary>The 64 youngest entries; pushing onto a full stack drops the oldest.</summary>
    private sealed class BoundedStack
    {
        private const int Capacity = 64;
        private readonly ulong[] _items = new ulong[Capacity];
        private int _top;    // index of the next free slot
        private int _count;

        public void Clear() => _top = _count = 0;

        public void Push(ulong value)
        {
            _items[_top] = value;
            _top = (_top + 1) % Capacity;
            if (_count < Capacity) _count++;
        }

        public bool Top(out ulong value)
        {
            value = _count == 0 ? 0 : _items[(_top + Capacity - 1) % Capacity];
            return _count != 0;
        }

        public void Pop()
        {
            if (_count == 0) return;
            _top = (_top + Capacity - 1) % Capacity;
            _count--;
        }
    }
}
