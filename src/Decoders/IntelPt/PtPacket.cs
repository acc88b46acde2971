namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>
/// One decoded Intel PT packet: a flat 16-byte value, so a decoder loop copies it in registers and allocates nothing.
/// The meaning of <see cref="Sub"/>, <see cref="Flags"/>, <see cref="Aux"/> and <see cref="Payload"/> depends on
/// <see cref="Kind"/>; the named accessors below read them for each kind, and the <c>Create*</c> factories build them.
/// <list type="table">
/// <item><term>Tnt8, Tnt64</term><description>Sub = branch count; Payload = bits, bit (Sub-1) is the oldest branch.</description></item>
/// <item><term>Tip, TipPge, TipPgd, Fup</term><description>Sub = IPBytes (<see cref="PtIpCompression"/>); Payload = the IP bytes as stored.</description></item>
/// <item><term>ModeExec, ModeTsx</term><description>Sub = mode bits (exec: CS.L 1, CS.D 2, IF 4; tsx: InTX 1, TXAbort 2).</description></item>
/// <item><term>Pip</term><description>Payload = CR3; Flags bit 0 = NR.</description></item>
/// <item><term>Tsc, Mtc, Cyc, Mnt</term><description>Payload = TSC / CTC byte / cycle count / payload.</description></item>
/// <item><term>Cbr</term><description>Sub = core:bus ratio.</description></item>
/// <item><term>Tma</term><description>Payload = CTC[15:0]; Aux = fast counter FC[8:0].</description></item>
/// <item><term>Vmcs</term><description>Payload = VMCS base address.</description></item>
/// <item><term>Exstop, Bep</term><description>Flags bit 0 = IP.</description></item>
/// <item><term>Mwait</term><description>Payload = hints; Aux = extensions.</description></item>
/// <item><term>Pwre</term><description>Aux = the raw 16-bit payload.</description></item>
/// <item><term>Pwrx</term><description>Payload = the raw 40-bit payload.</description></item>
/// <item><term>Ptw</term><description>Sub = PayloadBytes code (0: 4 bytes, 1: 8 bytes); Flags bit 0 = IP; Payload.</description></item>
/// <item><term>Cfe</term><description>Sub = type; Flags bit 0 = IP; Aux = vector.</description></item>
/// <item><term>Evd</term><description>Sub = type; Payload.</description></item>
/// <item><term>Trig</term><description>Flags = byte 1 (IP 0x80, ICNTV 0x40, MULT 0x20); Sub = TRBV; Aux = ICNT.</description></item>
/// <item><term>Bbp</term><description>Sub = type; Flags bit 0 = SZ (1: the BIPs that follow are 4 bytes, 0: 8 bytes).</description></item>
/// <item><term>Bip</term><description>Sub = ID; Payload = item (Size tells 4 or 8 bytes).</description></item>
/// </list>
/// </summary>
public readonly record struct PtPacket(PtPacketKind Kind, byte Size, byte Sub, byte Flags, uint Aux, ulong Payload)
{
    public const byte ExecCsL = 0x01, ExecCsD = 0x02, ExecIf = 0x04;
    public const byte TsxInTx = 0x01, TsxAbort = 0x02;
    public const byte TrigIp = 0x80, TrigIcntValid = 0x40, TrigMult = 0x20;

    public bool IsIpPacket => Kind is PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd or PtPacketKind.Fup;
    public PtIpCompression IpCompression => (PtIpCompression)Sub;
    public int TntCount => Sub;
    /// <summary>The flag bit 0 of kinds that have one: PIP NR, EXSTOP/PTW/CFE/BEP IP, BBP SZ.</summary>
    public bool Flag0 => (Flags & 1) != 0;

    public ulong PipCr3 => Payload;
    public bool PipNonRoot => Flag0;
    public int PwreState => (int)(Aux >> 12) & 0xf;
    public int PwreSubState => (int)(Aux >> 8) & 0xf;
    public bool PwreHw => (Aux & 0x08) != 0;
    public int PwrxDeepest => (int)Payload & 0xf;
    public int PwrxLast => (int)(Payload >> 4) & 0xf;
    public bool PwrxInterrupt => (Payload & 0x100) != 0;
    public bool PwrxStore => (Payload & 0x400) != 0;
    public bool PwrxAutonomous => (Payload & 0x800) != 0;
    public int PtwPayloadBytes => Sub == 0 ? 4 : 8;

    public static PtPacket Create(PtPacketKind kind) => kind switch
    {
        PtPacketKind.Pad => new(kind, 1, 0, 0, 0, 0),
        PtPacketKind.Psb => new(kind, 16, 0, 0, 0, 0),
        PtPacketKind.PsbEnd or PtPacketKind.Ovf or PtPacketKind.Stop => new(kind, 2, 0, 0, 0, 0),
        _ => throw new ArgumentException($"{kind} has a payload; use its own factory", nameof(kind)),
    };

    /// <summary>TNT-8 (1..6 branches) or TNT-64 (1..47 branches); <paramref name="bits"/> bit (count-1) is the oldest.</summary>
    public static PtPacket CreateTnt(int count, ulong bits)
    {
        if (count is < 1 or > 47) throw new ArgumentOutOfRangeException(nameof(count));
        bits &= (1UL << count) - 1;
        return count <= 6 ? new(PtPacketKind.Tnt8, 1, (byte)count, 0, 0, bits) : new(PtPacketKind.Tnt64, 8, (byte)count, 0, 0, bits);
    }

    /// <summary>An IP packet exactly as stored: <paramref name="ipBytes"/> of the IP for the given compression.</summary>
    public static PtPacket CreateIp(PtPacketKind kind, PtIpCompression ipc, ulong ipBytes)
    {
        if (kind is not (PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd or PtPacketKind.Fup))
            throw new ArgumentException("not an IP packet kind", nameof(kind));
        int n = PtIp.PayloadSize(ipc);
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(ipc));
        ulong mask = n == 8 ? ulong.MaxValue : (1UL << (8 * n)) - 1;
        return new(kind, (byte)(1 + n), (byte)ipc, 0, 0, ipBytes & mask);
    }

    public static PtPacket CreateModeExec(byte bits) => new(PtPacketKind.ModeExec, 2, (byte)(bits & 0x1f), 0, 0, 0);
    public static PtPacket CreateModeTsx(byte bits) => new(PtPacketKind.ModeTsx, 2, (byte)(bits & 0x1f), 0, 0, 0);
    public static PtPacket CreatePip(ulong cr3, bool nonRoot) => new(PtPacketKind.Pip, 8, 0, nonRoot ? (byte)1 : (byte)0, 0, cr3 & 0x000f_ffff_ffff_ffe0);
    public static PtPacket CreateTsc(ulong tsc) => new(PtPacketKind.Tsc, 8, 0, 0, 0, tsc & 0x00ff_ffff_ffff_ffff);
    public static PtPacket CreateCbr(byte ratio) => new(PtPacketKind.Cbr, 4, ratio, 0, 0, 0);
    public static PtPacket CreateTma(ushort ctc, ushort fc) => new(PtPacketKind.Tma, 7, 0, 0, (uint)fc & 0x1ff, ctc);
    public static PtPacket CreateMtc(byte ctc) => new(PtPacketKind.Mtc, 2, 0, 0, 0, ctc);

    /// <summary>CYC with the shortest encoding of <paramref name="value"/> (at most 61 bits, as libipt accepts).</summary>
    public static PtPacket CreateCyc(ulong value)
    {
        if (value >= 1UL << 61) throw new ArgumentOutOfRangeException(nameof(value));
        int size = 1;
        for (ulong rest = value >> 5; rest != 0; rest >>= 7) size++;
        return new(PtPacketKind.Cyc, (byte)size, 0, 0, 0, value);
    }

    public static PtPacket CreateVmcs(ulong baseAddress) => new(PtPacketKind.Vmcs, 7, 0, 0, 0, baseAddress & 0x000f_ffff_ffff_f000);
    public static PtPacket CreateMnt(ulong payload) => new(PtPacketKind.Mnt, 11, 0, 0, 0, payload);
    public static PtPacket CreateExstop(bool ip) => new(PtPacketKind.Exstop, 2, 0, ip ? (byte)1 : (byte)0, 0, 0);
    public static PtPacket CreateMwait(uint hints, uint ext) => new(PtPacketKind.Mwait, 10, 0, 0, ext, hints);
    public static PtPacket CreatePwre(ushort raw) => new(PtPacketKind.Pwre, 4, 0, 0, raw, 0);
    public static PtPacket CreatePwrx(ulong raw) => new(PtPacketKind.Pwrx, 7, 0, 0, 0, raw & 0xff_ffff_ffff);

    public static PtPacket CreatePtw(bool eightBytes, ulong payload, bool ip) =>
        new(PtPacketKind.Ptw, eightBytes ? (byte)10 : (byte)6, eightBytes ? (byte)1 : (byte)0, ip ? (byte)1 : (byte)0, 0,
            eightBytes ? payload : payload & 0xffff_ffff);

    public static PtPacket CreateCfe(byte type, byte vector, bool ip) => new(PtPacketKind.Cfe, 4, (byte)(type & 0x1f), ip ? (byte)1 : (byte)0, vector, 0);
    public static PtPacket CreateEvd(byte type, ulong payload) => new(PtPacketKind.Evd, 11, (byte)(type & 0x1f), 0, 0, payload);

    public static PtPacket CreateTrig(byte trbv, bool ip, bool mult, ushort? icnt)
    {
        byte flags = (byte)((ip ? TrigIp : 0) | (mult ? TrigMult : 0) | (icnt.HasValue ? TrigIcntValid : 0));
        return new(PtPacketKind.Trig, icnt.HasValue ? (byte)5 : (byte)3, trbv, flags, icnt ?? 0, 0);
    }

    public static PtPacket CreateBbp(byte type, bool fourByteItems) => new(PtPacketKind.Bbp, 3, (byte)(type & 0x1f), fourByteItems ? (byte)1 : (byte)0, 0, 0);
    public static PtPacket CreateBip(byte id, ulong item, bool eightBytes) =>
        new(PtPacketKind.Bip, eightBytes ? (byte)9 : (byte)5, (byte)(id & 0x1f), 0, 0, eightBytes ? item : item & 0xffff_ffff);
    public static PtPacket CreateBep(bool ip) => new(PtPacketKind.Bep, 2, 0, ip ? (byte)1 : (byte)0, 0, 0);
}
