using Iced.Intel;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>What an instruction does to control flow, in the terms Intel PT traces it.</summary>
public enum SoftPtInstructionKind : byte
{
    /// <summary>No code at the address, or bytes that do not decode: cannot be traced.</summary>
    Undecodable,
    /// <summary>Falls through to the next instruction.</summary>
    Other,
    /// <summary>Jcc, JrCXZ, LOOP*: one TNT bit.</summary>
    Conditional,
    /// <summary>Direct near JMP: no packet.</summary>
    DirectJump,
    /// <summary>Direct near CALL: no packet; pushes the return address for return compression (unless it calls the next instruction).</summary>
    DirectCall,
    /// <summary>Indirect near JMP: TIP.</summary>
    IndirectJump,
    /// <summary>Indirect near CALL: TIP; pushes the return address.</summary>
    IndirectCall,
    /// <summary>Near RET: a compressed taken TNT bit or a TIP.</summary>
    Return,
    /// <summary>Far CALL/JMP/RET, IRET: TIP.</summary>
    FarTransfer,
    /// <summary>SYSCALL, SYSENTER, INT n, INT1, INT3: enters the kernel, so user-only tracing stops with TIP.PGD.</summary>
    KernelEntry,
}

/// <summary>One instruction's classification: its kind, length and (for direct branches) target.</summary>
public readonly record struct ClassifiedInstruction(SoftPtInstructionKind Kind, byte Length, ulong Target)
{
    public static readonly ClassifiedInstruction Undecodable = new(SoftPtInstructionKind.Undecodable, 0, 0);
}

/// <summary>
/// Classifies instructions with Iced, once per distinct address of each address space, and remembers the answer:
/// executions repeat the same instructions millions of times, so the steady state is one dictionary lookup per step.
/// </summary>
public sealed class InstructionClassifier
{
    private readonly Dictionary<AddressSpace, Dictionary<ulong, ClassifiedInstruction>> _caches = new(ReferenceEqualityComparer.Instance);
    private readonly WindowReader _reader = new();
    private readonly Iced.Intel.Decoder _decoder;

    public InstructionClassifier()
    {
        _decoder = Iced.Intel.Decoder.Create(64, _reader);
    }

    /// <summary>Distinct instructions decoded so far (cache misses).</summary>
    public long Decoded { get; private set; }

    /// <summary>The cache of one address space (hold on to it while stepping through that space).</summary>
    public Dictionary<ulong, ClassifiedInstruction> CacheFor(AddressSpace space)
    {
        if (!_caches.TryGetValue(space, out var cache))
        {
            cache = new Dictionary<ulong, ClassifiedInstruction>(4096);
            _caches.Add(space, cache);
        }
        return cache;
    }

    /// <summary>The classification of the instruction at <paramref name="ip"/> in <paramref name="space"/>.</summary>
    public ClassifiedInstruction Classify(AddressSpace space, Dictionary<ulong, ClassifiedInstruction> cache, ulong ip)
    {
        if (cache.TryGetValue(ip, out var known)) return known;
        var result = Decode(space, ip);
        cache.Add(ip, result);
        return result;
    }

    private ClassifiedInstruction Decode(AddressSpace space, ulong ip)
    {
        Decoded++;
        // An instruction may straddle two adjacent regions: read what is left of the window from the next one.
        byte[] window = _reader.Window;
        int n = space.Read(ip, window);
        if (n == 0) return ClassifiedInstruction.Undecodable;
        if (n < window.Length) n += space.Read(ip + (ulong)n, window.AsSpan(n));
        _reader.Reset(n);
        _decoder.IP = ip;
        _decoder.Decode(out Instruction insn);
        if (insn.IsInvalid || insn.Length > n) return ClassifiedInstruction.Undecodable;
        byte length = (byte)insn.Length;
        return insn.FlowControl switch
        {
            FlowControl.Next or FlowControl.Exception or FlowControl.XbeginXabortXend => new(SoftPtInstructionKind.Other, length, 0),
            FlowControl.ConditionalBranch => new(SoftPtInstructionKind.Conditional, length, insn.NearBranchTarget),
            FlowControl.UnconditionalBranch => new(SoftPtInstructionKind.DirectJump, length, insn.NearBranchTarget),
            FlowControl.Call when insn.IsCallNear => new(SoftPtInstructionKind.DirectCall, length, insn.NearBranchTarget),
            // SYSCALL and SYSENTER are "calls" to Iced; far direct calls do not exist in 64-bit mode.
            FlowControl.Call => insn.Mnemonic is Mnemonic.Syscall or Mnemonic.Sysenter
                ? new(SoftPtInstructionKind.KernelEntry, length, 0)
                : new(SoftPtInstructionKind.FarTransfer, length, 0),
            FlowControl.IndirectBranch => new(insn.IsJmpFarIndirect ? SoftPtInstructionKind.FarTransfer : SoftPtInstructionKind.IndirectJump, length, 0),
            FlowControl.IndirectCall => new(insn.IsCallFarIndirect ? SoftPtInstructionKind.FarTransfer : SoftPtInstructionKind.IndirectCall, length, 0),
            FlowControl.Return => new(insn.Mnemonic == Mnemonic.Ret ? SoftPtInstructionKind.Return : SoftPtInstructionKind.FarTransfer, length, 0),
            FlowControl.Interrupt => new(SoftPtInstructionKind.KernelEntry, length, 0),
            _ => new(SoftPtInstructionKind.Other, length, 0),
        };
    }

    /// <summary>Iced reads bytes one at a time from here: a reusable 15-byte window (the longest x86 instruction).</summary>
    private sealed class WindowReader : CodeReader
    {
        public readonly byte[] Window = new byte[15];
        private int _length;
        private int _position;

        public void Reset(int length)
        {
            _length = length;
            _position = 0;
        }

        public override int ReadByte() => _position < _length ? Window[_position++] : -1;
    }
}
