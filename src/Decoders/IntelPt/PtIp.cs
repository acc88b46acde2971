namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>IP compression arithmetic shared by the decoder, the encoder and last-IP tracking.</summary>
public static class PtIp
{
    /// <summary>Bytes of IP payload for an IPBytes value; -1 for the reserved values 5 and 7.</summary>
    /// <remarks>A table, inlined: it runs for every TIP/FUP of the flow decoder's hot loop.</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int PayloadSize(PtIpCompression ipc) => (uint)ipc < 8 ? PayloadSizes[(int)ipc] : -1;

    private static ReadOnlySpan<sbyte> PayloadSizes => [0, 2, 4, 6, 6, -1, 8, -1];

    public static ulong SignExtend48(ulong ip) => (ulong)((long)(ip << 16) >> 16);

    /// <summary>
    /// The shortest IPBytes that reproduces <paramref name="ip"/> from <paramref name="lastIp"/>, as hardware picks it:
    /// update-16/32 when the upper bytes repeat, sign-extended 48 when the IP is canonical, update-48, else full.
    /// Without a last IP only the self-contained forms are correct.
    /// </summary>
    public static PtIpCompression Shortest(ulong ip, in PtLastIp lastIp)
    {
        if (lastIp.HasIp)
        {
            ulong last = lastIp.Ip;
            if ((ip ^ last) >> 16 == 0) return PtIpCompression.Update16;
            if ((ip ^ last) >> 32 == 0) return PtIpCompression.Update32;
        }
        if (SignExtend48(ip) == ip) return PtIpCompression.SignExtend48;
        if (lastIp.HasIp && (ip ^ lastIp.Ip) >> 48 == 0) return PtIpCompression.Update48;
        return PtIpCompression.Full;
    }

    /// <summary>Whether <paramref name="ipc"/> reproduces <paramref name="ip"/> from <paramref name="lastIp"/>.</summary>
    public static bool CanEncode(ulong ip, PtIpCompression ipc, in PtLastIp lastIp) => ipc switch
    {
        PtIpCompression.Update16 => lastIp.HasIp && (ip ^ lastIp.Ip) >> 16 == 0,
        PtIpCompression.Update32 => lastIp.HasIp && (ip ^ lastIp.Ip) >> 32 == 0,
        PtIpCompression.Update48 => lastIp.HasIp && (ip ^ lastIp.Ip) >> 48 == 0,
        PtIpCompression.SignExtend48 => SignExtend48(ip) == ip,
        PtIpCompression.Full => true,
        _ => false,
    };
}

/// <summary>
/// The decoder's last IP (SDM "IP compression"): the base that compressed TIP/FUP payloads update.
/// It is reset at each PSB by a flow decoder; the packet dump keeps it across PSBs as ptdump does.
/// </summary>
public struct PtLastIp
{
    public ulong Ip { get; private set; }
    /// <summary>An IP packet with a payload has been seen.</summary>
    public bool HasIp { get; private set; }
    /// <summary>The latest IP packet had IPBytes 0.</summary>
    public bool Suppressed { get; private set; }

    /// <summary>Applies one IP packet's payload. Returns false for reserved IPBytes (the state is left alone).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool Update(PtIpCompression ipc, ulong payload)
    {
        switch (ipc)
        {
            case PtIpCompression.Suppressed:
                Suppressed = true;
                return true;
            case PtIpCompression.Update16: Ip = (Ip & ~0xffffUL) | (payload & 0xffff); break;
            case PtIpCompression.Update32: Ip = (Ip & ~0xffff_ffffUL) | (payload & 0xffff_ffff); break;
            case PtIpCompression.Update48: Ip = (Ip & ~0xffff_ffff_ffffUL) | (payload & 0xffff_ffff_ffff); break;
            case PtIpCompression.SignExtend48: Ip = PtIp.SignExtend48(payload); break;
            case PtIpCompression.Full: Ip = payload; break;
            default: return false;
        }
        HasIp = true;
        Suppressed = false;
        return true;
    }

    /// <summary>Applies an IP packet; non-IP packets are ignored.</summary>
    public bool Update(in PtPacket packet) => !packet.IsIpPacket || Update(packet.IpCompression, packet.Payload);

    public void Reset() => this = default;
}
