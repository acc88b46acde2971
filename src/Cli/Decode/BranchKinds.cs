using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>The kind word a branch gets in `--format branches` (perf's -F +flags vocabulary where it has one).</summary>
internal static class BranchKinds
{
    public static string Of(in PtInsn insn) => insn.Ext switch
    {
        PtInsnExt.Syscall => "syscall",
        PtInsnExt.Sysenter => "sysenter",
        PtInsnExt.Sysret => "sysret",
        PtInsnExt.Sysexit => "sysexit",
        PtInsnExt.Int => "int",
        PtInsnExt.Iret => "iret",
        PtInsnExt.Vmcall => "vmcall",
        PtInsnExt.Vmlaunch or PtInsnExt.Vmresume => "vmentry",
        _ => insn.Class switch
        {
            PtInsnClass.Call => "call",
            PtInsnClass.Return => "return",
            PtInsnClass.CondJump => "jcc",
            PtInsnClass.Jump => "jmp",
            PtInsnClass.FarCall => "far call",
            PtInsnClass.FarReturn => "far return",
            PtInsnClass.FarJump => "far jmp",
            _ => "branch",
        },
    };
}
