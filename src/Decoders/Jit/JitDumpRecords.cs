namespace DotnetPtrace.Decoders.Jit;

/// <summary>
/// Record ids of the jitdump format (Linux perf's tools/perf/Documentation/jitdump-specification.txt): what a JIT
/// writes to jit-PID.dump about the code it makes, for perf (and us) to find code that no file holds.
/// </summary>
public enum JitRecordKind : uint
{
    CodeLoad = 0,
    CodeMove = 1,
    DebugInfo = 2,
    CodeClose = 3,
    UnwindingInfo = 4,
}

/// <summary>
/// The file header: <see cref="Version"/> 1, the ELF machine of the code, the writing process, when the file was
/// started, and flags (bit 0: timestamps are the CPU's TSC rather than CLOCK_MONOTONIC nanoseconds).
/// </summary>
public readonly record struct JitDumpHeader(uint Version, uint HeaderSize, uint ElfMachine, int Pid, ulong Timestamp, ulong Flags, bool ByteSwapped)
{
    public const uint Magic = 0x4A695444;   // "JiTD" as a number; a file written on the other byte order reads 0x4454694A
    public const int Size = 40;
    public const ulong FlagArchTimestamp = 1;
    /// <summary>Timestamps are TSC ticks (perf -k with the arch clock), not CLOCK_MONOTONIC ns.</summary>
    public bool ArchTimestamps => (Flags & FlagArchTimestamp) != 0;
}

/// <summary>One record of a jitdump, with the file offset it starts at and its timestamp.</summary>
public abstract record JitRecord(long Offset, ulong Timestamp)
{
    public abstract JitRecordKind Kind { get; }
}

/// <summary>
/// JIT_CODE_LOAD: <see cref="CodeSize"/> bytes of code for method <see cref="Name"/> were placed at
/// <see cref="CodeAddress"/>; <see cref="Code"/> holds them as executed, or is empty when the writer left them out
/// (dotnet/runtime main asks for that for stub blocks, whose memory may not be readable or written yet).
/// <see cref="CodeIndex"/> is unique per load and names it in later moves.
/// </summary>
public sealed record JitCodeLoad(long Offset, ulong Timestamp, int Pid, int Tid, ulong Vma, ulong CodeAddress, ulong CodeIndex, string Name, byte[] Code, ulong CodeSize)
    : JitRecord(Offset, Timestamp)
{
    public JitCodeLoad(long offset, ulong timestamp, int pid, int tid, ulong vma, ulong codeAddress, ulong codeIndex, string name, byte[] code)
        : this(offset, timestamp, pid, tid, vma, codeAddress, codeIndex, name, code, (ulong)code.Length) { }

    public override JitRecordKind Kind => JitRecordKind.CodeLoad;
    public bool HasCode => Code.Length > 0 && (ulong)Code.Length == CodeSize;
}

/// <summary>JIT_CODE_MOVE: the code of load <see cref="CodeIndex"/> now lives at <see cref="NewCodeAddress"/>.</summary>
public sealed record JitCodeMove(long Offset, ulong Timestamp, int Pid, int Tid, ulong Vma, ulong OldCodeAddress, ulong NewCodeAddress, ulong CodeSize, ulong CodeIndex)
    : JitRecord(Offset, Timestamp)
{
    public override JitRecordKind Kind => JitRecordKind.CodeMove;
}

/// <summary>One line-table entry of JIT_CODE_DEBUG_INFO: the code at <see cref="Address"/> came from this source line.</summary>
public readonly record struct JitDebugEntry(ulong Address, int Line, int Discriminator, string File);

/// <summary>JIT_CODE_DEBUG_INFO: source lines for the code load that follows it at <see cref="CodeAddress"/>.</summary>
public sealed record JitDebugInfo(long Offset, ulong Timestamp, ulong CodeAddress, IReadOnlyList<JitDebugEntry> Entries)
    : JitRecord(Offset, Timestamp)
{
    public override JitRecordKind Kind => JitRecordKind.DebugInfo;
}

/// <summary>JIT_CODE_CLOSE: the JIT closed the file; nothing follows.</summary>
public sealed record JitCodeClose(long Offset, ulong Timestamp) : JitRecord(Offset, Timestamp)
{
    public override JitRecordKind Kind => JitRecordKind.CodeClose;
}

/// <summary>JIT_CODE_UNWINDING_INFO (.eh_frame data for the next load) or a record id this reader does not know: kept by size only.</summary>
public sealed record JitOtherRecord(long Offset, ulong Timestamp, uint Id, uint Size) : JitRecord(Offset, Timestamp)
{
    public override JitRecordKind Kind => (JitRecordKind)Id;
}

/// <summary>A jitdump that is damaged or cut short; the message names the file offset.</summary>
public sealed class JitDumpException(string message, long offset) : Exception(message)
{
    public long Offset { get; } = offset;
}
