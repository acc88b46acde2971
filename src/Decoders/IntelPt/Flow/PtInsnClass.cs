using Iced.Intel;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>What an instruction does to the control flow, as far as Intel PT is concerned (libipt's pt_insn_class).</summary>
public enum PtInsnClass : byte
{
    Unknown = 0,
    /// <summary>Not a branch: execution continues with the next instruction.</summary>
    Other,
    /// <summary>Near call, direct or indirect.</summary>
    Call,
    /// <summary>Near return (may be compressed into a taken TNT bit).</summary>
    Return,
    /// <summary>Near unconditional jump, direct or indirect.</summary>
    Jump,
    /// <summary>Jcc, LOOP/LOOPcc, JCXZ/JECXZ/JRCXZ: one TNT bit.</summary>
    CondJump,
    /// <summary>Far call, INT n/INT3/INT1/INTO, SYSCALL/SYSENTER, VMCALL: a TIP gives the target.</summary>
    FarCall,
    /// <summary>Far return, IRET, SYSRET/SYSEXIT, VMLAUNCH/VMRESUME, UIRET.</summary>
    FarReturn,
    FarJump,
    Ptwrite,
    Indirect,
}

/// <summary>The few individual instructions the decoders must recognise beyond their class.</summary>
public enum PtInsnExt : byte
{
    None = 0,
    MovCr3,
    Vmptrld,
    Vmlaunch,
    Vmresume,
    Vmcall,
    Iret,
    Sysret,
    Sysexit,
    Syscall,
    Sysenter,
    Int,
    Jmpabs,
    Uiret,
    Erets,
    Eretu,
}

/// <summary>One decoded instruction as the flow decoders see it: where, how long, and its branch kind and target.</summary>
public readonly record struct PtInsn(ulong Ip, byte Size, PtInsnClass Class, PtInsnExt Ext, bool IsDirect, ulong Target)
{
    public ulong NextIp => Ip + Size;

    /// <summary>
    /// The IP after this instruction when no trace is needed to know it (libipt's pt_insn_next_ip): the next
    /// instruction, or a direct jump/call target. BadQuery when trace decides it.
    /// </summary>
    public PtFlowError TryNextIp(out ulong ip)
    {
        ip = Ip + Size;
        switch (Class)
        {
            case PtInsnClass.Other or PtInsnClass.Ptwrite:
                return PtFlowError.Ok;
            case PtInsnClass.Jump when Ext == PtInsnExt.Jmpabs:
                return PtFlowError.BadQuery;
            case PtInsnClass.Jump or PtInsnClass.Call when IsDirect:
                ip = Target;
                return PtFlowError.Ok;
            case PtInsnClass.Unknown:
                return PtFlowError.BadInstruction;
            default:
                return PtFlowError.BadQuery;
        }
    }

    /// <summary>Needs trace or state to continue past (every branch, and the instructions events bind to).</summary>
    public bool EndsRun => Class != PtInsnClass.Other || Ext != PtInsnExt.None;

    public bool ChangesCr3 => Ext == PtInsnExt.MovCr3;
    public bool IsFarBranch => Class is PtInsnClass.FarCall or PtInsnClass.FarReturn or PtInsnClass.FarJump;
    public bool BindsToPip => Ext is PtInsnExt.MovCr3 or PtInsnExt.Vmlaunch or PtInsnExt.Vmresume || IsFarBranch;
    public bool BindsToVmcs => Ext is PtInsnExt.Vmptrld or PtInsnExt.Vmlaunch or PtInsnExt.Vmresume || IsFarBranch;
    public bool IsPtwrite => Class == PtInsnClass.Ptwrite;
    public bool IsIret => Ext is PtInsnExt.Iret or PtInsnExt.Sysret or PtInsnExt.Sysexit or PtInsnExt.Erets or PtInsnExt.Eretu;
    public bool IsVmentry => Ext is PtInsnExt.Vmlaunch or PtInsnExt.Vmresume;
    public bool IsUiret => Ext == PtInsnExt.Uiret;
}

/// <summary>Classifies an Iced instruction the way libipt's instruction length decoder does (pt_ild).</summary>
public static class PtInsnClassifier
{
    public static PtInsn Classify(in Instruction ins, ulong ip)
    {
        byte size = (byte)ins.Length;
        if (ins.IsJccShortOrNear || ins.IsJcxShort || ins.IsLoop || ins.IsLoopcc)
            return new(ip, size, PtInsnClass.CondJump, PtInsnExt.None, true, ins.NearBranchTarget);
        if (ins.IsCallNear) return new(ip, size, PtInsnClass.Call, PtInsnExt.None, true, ins.NearBranchTarget);
        if (ins.IsCallNearIndirect) return new(ip, size, PtInsnClass.Call, PtInsnExt.None, false, 0);
        if (ins.IsJmpShortOrNear) return new(ip, size, PtInsnClass.Jump, PtInsnExt.None, true, ins.NearBranchTarget);
        if (ins.IsJmpNearIndirect) return new(ip, size, PtInsnClass.Jump, PtInsnExt.None, false, 0);
        if (ins.IsCallFar || ins.IsCallFarIndirect) return new(ip, size, PtInsnClass.FarCall, PtInsnExt.None, false, 0);
        if (ins.IsJmpFar || ins.IsJmpFarIndirect) return new(ip, size, PtInsnClass.FarJump, PtInsnExt.None, false, 0);
        switch (ins.Mnemonic)
        {
            case Mnemonic.Ret: return new(ip, size, PtInsnClass.Return, PtInsnExt.None, false, 0);
            case Mnemonic.Retf: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.None, false, 0);
            case Mnemonic.Iret or Mnemonic.Iretd or Mnemonic.Iretq: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.Iret, false, 0);
            case Mnemonic.Int or Mnemonic.Int1 or Mnemonic.Int3 or Mnemonic.Into:
                return new(ip, size, PtInsnClass.FarCall, PtInsnExt.Int, false, 0);
            case Mnemonic.Syscall: return new(ip, size, PtInsnClass.FarCall, PtInsnExt.Syscall, false, 0);
            case Mnemonic.Sysenter: return new(ip, size, PtInsnClass.FarCall, PtInsnExt.Sysenter, false, 0);
            case Mnemonic.Sysret or Mnemonic.Sysretq: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.Sysret, false, 0);
            case Mnemonic.Sysexit or Mnemonic.Sysexitq: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.Sysexit, false, 0);
            case Mnemonic.Vmcall: return new(ip, size, PtInsnClass.FarCall, PtInsnExt.Vmcall, false, 0);
            case Mnemonic.Vmlaunch: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.Vmlaunch, false, 0);
            case Mnemonic.Vmresume: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.Vmresume, false, 0);
            case Mnemonic.Uiret: return new(ip, size, PtInsnClass.FarReturn, PtInsnExt.Uiret, false, 0);
            case Mnemonic.Ptwrite: return new(ip, size, PtInsnClass.Ptwrite, PtInsnExt.None, false, 0);
            case Mnemonic.Vmptrld: return new(ip, size, PtInsnClass.Other, PtInsnExt.Vmptrld, false, 0);
            case Mnemonic.Mov when ins.Op0Kind == OpKind.Register && ins.Op0Register == Register.CR3:
                return new(ip, size, PtInsnClass.Other, PtInsnExt.MovCr3, false, 0);
            default:
                return new(ip, size, PtInsnClass.Other, PtInsnExt.None, false, 0);
        }
    }
}
