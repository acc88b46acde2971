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

    private Entries _stack;
    private byte _top, _bottom;

    public void Clear() => _top = _bottom = 0;

    public readonly bool IsEmpty => _top == _bottom;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(ulong ip)
    {
        int top = _top;
        _stack[top] = ip;
        top = top == Depth ? 0 : top + 1;
        if (top == _bottom) _bottom = (byte)(_bottom == Depth ? 0 : _bottom + 1);
        _top = (byte)top;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPop(out ulong ip)
    {
        int top = _top;
        if (top == _bottom)
        {
            ip = 0;
            return false;
        }
        top = top == 0 ? Depth : top - 1;
        _top = (byte)top;
        ip = _stack[top];
        return true;
    }
}

/// <summary>
/// A block: instructions executed one after the other, from <see cref="Ip"/> to <see cref="EndIp"/>, with no branch
/// between them (only the last may be one). <see cref="InstructionLengths"/> lists their sizes, so the instructions
/// can be listed without decoding; the lengths are valid until the decoder's next call.
/// </summary>
public struct PtBlock
{
    public ulong Ip;
    public ulong EndIp;
    public int InstructionCount;
    public PtExecMode Mode;
    public bool Speculative;
    /// <summary>The last instruction: its class, size and direct target.</summary>
    public PtInsn Last;
    public PtSection? Section;
    internal byte[]? LengthPool;
    internal int LengthStart;

    public readonly bool IsEmpty => InstructionCount == 0;

    public readonly ReadOnlySpan<byte> InstructionLengths =>
        LengthPool == null ? default : new ReadOnlySpan<byte>(LengthPool, LengthStart, InstructionCount);
}
