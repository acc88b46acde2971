namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// Why a flow decoder step failed. The set and the texts are libipt's (pt_error_code / pt_errstr), so our error lines
/// read exactly like ptxed's and can be compared with its goldens.
/// </summary>
public enum PtFlowError : byte
{
    Ok = 0,
    Internal,
    Invalid,
    NoSync,
    BadOpcode,
    BadPacket,
    BadContext,
    EndOfStream,
    BadQuery,
    NoMemory,
    BadConfig,
    NoIp,
    IpSuppressed,
    NoMap,
    BadInstruction,
    NoTime,
    NoCbr,
    BadImage,
    BadLock,
    NotSupported,
    RetStackEmpty,
    BadRetComp,
    BadStatusUpdate,
    NoEnable,
    EventIgnored,
    Overflow,
    BadFile,
    BadCpu,
}

/// <summary>Status bits a flow decoder step returns besides success (libipt's pt_status_flag).</summary>
[Flags]
public enum PtFlowStatus : byte
{
    None = 0,
    /// <summary>An event is pending: fetch it before decoding further.</summary>
    EventPending = 1,
    /// <summary>Tracing is disabled: there is no current IP.</summary>
    IpSuppressed = 2,
    /// <summary>The end of the trace has been reached.</summary>
    EndOfStream = 4,
}

public static class PtFlowErrors
{
    /// <summary>The message ptxed prints for an error (libipt's pt_errstr).</summary>
    public static string Message(PtFlowError error) => error switch
    {
        PtFlowError.Ok => "OK",
        PtFlowError.Internal => "internal error",
        PtFlowError.Invalid => "invalid argument",
        PtFlowError.NoSync => "decoder out of sync",
        PtFlowError.BadOpcode => "unknown opcode",
        PtFlowError.BadPacket => "unknown packet",
        PtFlowError.BadContext => "unexpected packet context",
        PtFlowError.EndOfStream => "reached end of trace stream",
        PtFlowError.BadQuery => "trace stream does not match query",
        PtFlowError.NoMemory => "out of memory",
        PtFlowError.BadConfig => "bad configuration",
        PtFlowError.NoIp => "no ip",
        PtFlowError.IpSuppressed => "ip has been suppressed",
        PtFlowError.NoMap => "no memory mapped at this address",
        PtFlowError.BadInstruction => "unknown instruction",
        PtFlowError.NoTime => "no timing information",
        PtFlowError.NoCbr => "no core:bus ratio",
        PtFlowError.BadImage => "bad image",
        PtFlowError.BadLock => "locking error",
        PtFlowError.NotSupported => "not supported",
        PtFlowError.RetStackEmpty => "compressed return without call",
        PtFlowError.BadRetComp => "bad compressed return",
        PtFlowError.BadStatusUpdate => "bad status update",
        PtFlowError.NoEnable => "expected tracing enabled event",
        PtFlowError.EventIgnored => "event ignored",
        PtFlowError.Overflow => "overflow",
        PtFlowError.BadFile => "bad file",
        PtFlowError.BadCpu => "unknown cpu",
        _ => "internal error.",
    };

    /// <summary>The flow error for a packet decoder status (truncated packets end the stream, as in libipt).</summary>
    public static PtFlowError FromPacketStatus(PtStatus status) => status switch
    {
        PtStatus.Ok => PtFlowError.Ok,
        PtStatus.EndOfStream or PtStatus.Truncated => PtFlowError.EndOfStream,
        PtStatus.NoSync => PtFlowError.NoSync,
        PtStatus.BadOpcode => PtFlowError.BadOpcode,
        _ => PtFlowError.BadPacket,
    };
}
