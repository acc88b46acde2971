namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>The kind of an Intel PT packet (SDM Vol. 3, "Intel Processor Trace"; names as libipt's ptdump prints them).</summary>
public enum PtPacketKind : byte
{
    /// <summary>No packet (default value).</summary>
    None = 0,
    Pad, Psb, PsbEnd, Ovf, Stop,
    Tnt8, Tnt64,
    Tip, TipPge, TipPgd, Fup,
    ModeExec, ModeTsx,
    Pip, Tsc, Cbr, Tma, Mtc, Cyc, Vmcs, Mnt,
    Exstop, Mwait, Pwre, Pwrx, Ptw,
    Cfe, Evd, Trig,
    /// <summary>Block Begin (PEBS via PT): opens a block of BIPs whose size (4 or 8 bytes) it gives.</summary>
    Bbp,
    /// <summary>Block Item: only recognised between a BBP and the packet that closes the block.</summary>
    Bip,
    /// <summary>Block End.</summary>
    Bep,
}

/// <summary>IP compression of TIP/TIP.PGE/TIP.PGD/FUP (the IPBytes field, bits 7..5 of the opcode).</summary>
public enum PtIpCompression : byte
{
    Suppressed = 0,
    Update16 = 1,
    Update32 = 2,
    SignExtend48 = 3,
    Update48 = 4,
    Full = 6,
}

/// <summary>Outcome of a decoder step. Everything but <see cref="Ok"/> comes with the offset it happened at.</summary>
public enum PtStatus : byte
{
    Ok = 0,
    /// <summary>The end of the buffer was reached at a packet boundary (or no further PSB exists when syncing).</summary>
    EndOfStream,
    /// <summary>The decoder has not been synchronised yet.</summary>
    NoSync,
    /// <summary>The byte(s) at the offset are no known opcode.</summary>
    BadOpcode,
    /// <summary>A known opcode whose payload is invalid (reserved values, broken PSB pattern, overlong CYC ...).</summary>
    BadPacket,
    /// <summary>An IP packet with the reserved IPBytes values 5 or 7.</summary>
    BadIpBytes,
    /// <summary>The packet starts inside the buffer but its last byte lies beyond the end.</summary>
    Truncated,
}

/// <summary>A decoding error as a value: what went wrong, and where.</summary>
public readonly record struct PtError(PtStatus Status, long Offset)
{
    public override string ToString() => $"{Status} at 0x{Offset:x}";
}
