using System.Runtime.CompilerServices;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// The return-address stack for compressed returns (SDM "Return compression"): calls push their return address,
/// a RET traced as a taken TNT bit pops it. 64 entries, as the hardware's; a push onto a full stack drops the oldest.
/// </summary>
internal struct PtRetStack
{
    public const int Depth = 64;

    [InlineArray(Depth + 1)]
    private struct Entries
    {
        private ulong _first;
    }

    [InlineArray(Depth + 1)]
    private struct Hints
    {
        private int _first;
    }

    private Entries _stack;
    // For the block decoder's fast loop: the cached run of the call that pushed the entry, or -1.
    private Hints _hints;
    private byte _top, _bottom;

    public void Clear() => _top = _bottom = 0;

    public readonly bool IsEmpty => _top == _bottom;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(ulong ip, int hint = -1)
    {
        int top = _top;
        _stack[top] = ip;
        _hints[top] = hint;
        top = top == Depth ? 0 : top + 1;
        if (top == _bottom) _bottom = (byte)(_bottom == Depth ? 0 : _bottom + 1);
        _top = (byte)top;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPop(out ulong ip) => TryPop(out ip, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPop(out ulong ip, out int hint)
    {
        int top = _top;
        if (top == _bottom)
        {
            ip = 0;
            hint = -1;
            return false;
        }
        top = top == 0 ? Depth : top - 1;
        _top = (byte)top;
        ip = _stack[top];
        hint = _hints[top];
        return true;
    }
}

/// <summary>
/// A block: instructions executed one after the other, from <see cref="Ip"/> to <see cref="EndIp"/>, with no branch
/// between them (only the last may be one). It is a view of a decoded run in the section's cache, so the
/// instructions can be listed (<see cref="InstructionLengths"/>, <see cref="Last"/>) without decoding; make it cheap to
/// pass around, and valid as long as the image is.
/// </summary>
public struct PtBlock
{
    public ulong Ip;
    public int InstructionCount;
    public PtExecMode Mode;
    public bool Speculative;
    internal PtBlockCache? Cache;
    internal int Run;

    public readonly bool IsEmpty => InstructionCount == 0;

    /// <summary>The section the instructions are in (null for an empty block).</summary>
    public readonly PtSection? Section => Cache?.Section;

    /// <summary>The sizes of the instructions, in order.</summary>
    public readonly ReadOnlySpan<byte> InstructionLengths =>
        Cache == null ? default : new ReadOnlySpan<byte>(Cache.Lengths, Cache.Runs[Run].LengthStart, InstructionCount);

    /// <summary>The address of the last instruction.</summary>
    public readonly ulong EndIp => Last.Ip;

    /// <summary>The last instruction: its class, size and direct branch target.</summary>
    public readonly PtInsn Last
    {
        get
        {
            if (Cache == null || InstructionCount == 0) return default;
            ref PtRun run = ref Cache.Runs[Run];
            if (InstructionCount == run.Count) return run.Last;
            // A prefix of the run: its last instruction is a plain one.
            ReadOnlySpan<byte> lengths = InstructionLengths;
            ulong ip = Ip;
            for (int i = 0; i < lengths.Length - 1; i++) ip += lengths[i];
            return new PtInsn(ip, lengths[^1], PtInsnClass.Other, PtInsnExt.None, false, 0);
        }
    }
}
