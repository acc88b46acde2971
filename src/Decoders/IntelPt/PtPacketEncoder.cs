using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>
/// Writes <see cref="PtPacket"/> values as Intel PT bytes: the exact inverse of <see cref="PtPacketDecoder"/>
/// (decoding what it writes gives back the same packets at the same offsets). Reserved bits are written as zero.
/// </summary>
public static class PtPacketEncoder
{
    public const int MaxPacketSize = 16;

    /// <summary>
    /// Encodes one packet into <paramref name="destination"/>. Returns the bytes written, 0 when the destination is
    /// too small, or -1 when the packet cannot be encoded (unknown kind, reserved IPBytes, a size that does not fit
    /// its payload).
    /// </summary>
    public static int Encode(in PtPacket p, Span<byte> destination)
    {
        int size = EncodedSize(p);
        if (size < 0) return -1;
        if (destination.Length < size) return 0;
        Span<byte> d = destination[..size];
        switch (p.Kind)
        {
            case PtPacketKind.Pad: d[0] = 0x00; break;
            case PtPacketKind.Psb:
                for (int i = 0; i < 16; i += 2) { d[i] = 0x02; d[i + 1] = 0x82; }
                break;
            case PtPacketKind.PsbEnd: Ext(d, 0x23); break;
            case PtPacketKind.Ovf: Ext(d, 0xf3); break;
            case PtPacketKind.Stop: Ext(d, 0x83); break;
            case PtPacketKind.Tnt8:
                d[0] = (byte)((((int)p.Payload | (1 << p.Sub)) << 1) & 0xff);
                break;
            case PtPacketKind.Tnt64:
                Ext(d, 0xa3);
                Le(d[2..], p.Payload | (1UL << p.Sub), 6);
                break;
            case PtPacketKind.Tip: Ip(d, 0x0d, p); break;
            case PtPacketKind.TipPge: Ip(d, 0x11, p); break;
            case PtPacketKind.TipPgd: Ip(d, 0x01, p); break;
            case PtPacketKind.Fup: Ip(d, 0x1d, p); break;
            case PtPacketKind.ModeExec: d[0] = 0x99; d[1] = (byte)(p.Sub & 0x1f); break;
            case PtPacketKind.ModeTsx: d[0] = 0x99; d[1] = (byte)(0x20 | (p.Sub & 0x1f)); break;
            case PtPacketKind.Pip:
                Ext(d, 0x43);
                Le(d[2..], ((p.Payload >> 5) << 1) | (p.Flags & 1UL), 6);
                break;
            case PtPacketKind.Tsc: d[0] = 0x19; Le(d[1..], p.Payload, 7); break;
            case PtPacketKind.Cbr: Ext(d, 0x03); d[2] = p.Sub; d[3] = 0; break;
            case PtPacketKind.Tma:
                Ext(d, 0x73);
                Le(d[2..], p.Payload, 2);
                d[4] = 0;
                Le(d[5..], p.Aux, 2);
                break;
            case PtPacketKind.Mtc: d[0] = 0x59; d[1] = (byte)p.Payload; break;
            case PtPacketKind.Cyc:
            {
                ulong v = p.Payload;
                d[0] = (byte)(0x03 | ((v & 0x1f) << 3) | (size > 1 ? 4UL : 0));
                v >>= 5;
                for (int i = 1; i < size; i++, v >>= 7)
                    d[i] = (byte)(((v & 0x7f) << 1) | (i + 1 < size ? 1UL : 0));
                break;
            }
            case PtPacketKind.Vmcs: Ext(d, 0xc8); Le(d[2..], p.Payload >> 12, 5); break;
            case PtPacketKind.Mnt: Ext(d, 0xc3); d[2] = 0x88; Le(d[3..], p.Payload, 8); break;
            case PtPacketKind.Exstop: Ext(d, p.Flag0 ? (byte)0xe2 : (byte)0x62); break;
            case PtPacketKind.Mwait: Ext(d, 0xc2); Le(d[2..], p.Payload, 4); Le(d[6..], p.Aux, 4); break;
            case PtPacketKind.Pwre: Ext(d, 0x22); Le(d[2..], p.Aux, 2); break;
            case PtPacketKind.Pwrx: Ext(d, 0xa2); Le(d[2..], p.Payload, 5); break;
            case PtPacketKind.Ptw:
                Ext(d, (byte)(0x12 | (p.Sub << 5) | (p.Flag0 ? 0x80 : 0)));
                Le(d[2..], p.Payload, size - 2);
                break;
            case PtPacketKind.Cfe:
                Ext(d, 0x13);
                d[2] = (byte)((p.Sub & 0x1f) | (p.Flag0 ? 0x80 : 0));
                d[3] = (byte)p.Aux;
                break;
            case PtPacketKind.Evd: Ext(d, 0x53); d[2] = (byte)(p.Sub & 0x1f); Le(d[3..], p.Payload, 8); break;
            case PtPacketKind.Trig:
                d[0] = 0xd9;
                d[1] = (byte)(p.Flags & 0xe0);
                d[2] = p.Sub;
                if (size == 5) Le(d[3..], p.Aux, 2);
                break;
            case PtPacketKind.Bbp: Ext(d, 0x63); d[2] = (byte)((p.Sub & 0x1f) | (p.Flag0 ? 0x80 : 0)); break;
            case PtPacketKind.Bip: d[0] = (byte)((p.Sub << 3) | 4); Le(d[1..], p.Payload, size - 1); break;
            case PtPacketKind.Bep: Ext(d, p.Flag0 ? (byte)0xb3 : (byte)0x33); break;
            default: return -1;
        }
        return size;
    }

    /// <summary>The encoded size of a packet, or -1 when it is malformed (checked against what the decoder returns).</summary>
    public static int EncodedSize(in PtPacket p)
    {
        int size = p.Kind switch
        {
            PtPacketKind.Pad => 1,
            PtPacketKind.Psb => 16,
            PtPacketKind.PsbEnd or PtPacketKind.Ovf or PtPacketKind.Stop or PtPacketKind.Exstop or PtPacketKind.Bep => 2,
            PtPacketKind.Tnt8 => p.Sub is >= 1 and <= 6 ? 1 : -1,
            PtPacketKind.Tnt64 => p.Sub is >= 1 and <= 47 ? 8 : -1,
            PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd or PtPacketKind.Fup =>
                PtIp.PayloadSize(p.IpCompression) is var n and >= 0 ? 1 + n : -1,
            PtPacketKind.ModeExec or PtPacketKind.ModeTsx or PtPacketKind.Mtc => 2,
            PtPacketKind.Pip or PtPacketKind.Tsc => 8,
            PtPacketKind.Cbr or PtPacketKind.Cfe or PtPacketKind.Pwre => 4,
            PtPacketKind.Tma or PtPacketKind.Vmcs or PtPacketKind.Pwrx => 7,
            PtPacketKind.Cyc => CycSize(p.Payload),
            PtPacketKind.Mnt or PtPacketKind.Evd => 11,
            PtPacketKind.Mwait => 10,
            PtPacketKind.Ptw => p.Sub switch { 0 => 6, 1 => 10, _ => -1 },
            PtPacketKind.Trig => (p.Flags & PtPacket.TrigIcntValid) != 0 ? 5 : 3,
            PtPacketKind.Bbp => 3,
            PtPacketKind.Bip => p.Size is 5 or 9 ? p.Size : -1,
            _ => -1,
        };
        // A packet built by hand with a size that disagrees with its payload would not survive a round trip.
        return size >= 0 && (p.Size == 0 || p.Size == size) ? size : -1;
    }

    private static int CycSize(ulong value)
    {
        if (value >= 1UL << 61) return -1;
        int size = 1;
        for (ulong rest = value >> 5; rest != 0; rest >>= 7) size++;
        return size;
    }

    private static void Ext(Span<byte> d, byte ext)
    {
        d[0] = 0x02;
        d[1] = ext;
    }

    private static void Ip(Span<byte> d, byte opcode, in PtPacket p)
    {
        d[0] = (byte)(opcode | (p.Sub << 5));
        Le(d[1..], p.Payload, d.Length - 1);
    }

    private static void Le(Span<byte> d, ulong value, int bytes)
    {
        if (bytes == 8) { BinaryPrimitives.WriteUInt64LittleEndian(d, value); return; }
        for (int i = 0; i < bytes; i++, value >>= 8) d[i] = (byte)value;
    }
}

/// <summary>
/// A stream encoder over a caller's buffer that keeps the last IP, so IP packets can be given as full addresses and
/// compressed the way hardware does (or with a forced IPBytes, when the IP allows it).
/// </summary>
public ref struct PtStreamEncoder
{
    private readonly Span<byte> _buffer;
    private int _pos;
    private PtLastIp _lastIp;

    public PtStreamEncoder(Span<byte> buffer)
    {
        _buffer = buffer;
        _pos = 0;
        _lastIp = default;
    }

    public readonly int Offset => _pos;
    public readonly PtLastIp LastIp => _lastIp;
    public readonly Span<byte> Written => _buffer[.._pos];

    /// <summary>Appends a packet as given; IP packets also update the last IP. Returns the bytes written, 0 if full, -1 if malformed.</summary>
    public int Write(in PtPacket packet)
    {
        int n = PtPacketEncoder.Encode(packet, _buffer[_pos..]);
        if (n > 0)
        {
            _pos += n;
            _lastIp.Update(packet);
        }
        return n;
    }

    /// <summary>
    /// Appends a TIP/TIP.PGE/TIP.PGD/FUP for <paramref name="ip"/>, compressed against the last IP with the shortest
    /// correct IPBytes, or with <paramref name="compression"/> when given (-1 if it cannot reproduce the IP).
    /// </summary>
    public int WriteIp(PtPacketKind kind, ulong ip, PtIpCompression? compression = null)
    {
        PtIpCompression ipc = compression ?? PtIp.Shortest(ip, _lastIp);
        if (ipc != PtIpCompression.Suppressed && !PtIp.CanEncode(ip, ipc, _lastIp)) return -1;
        return Write(PtPacket.CreateIp(kind, ipc, ipc == PtIpCompression.Suppressed ? 0 : ip));
    }

    /// <summary>Resets the last IP, as a PSB does for a flow decoder.</summary>
    public void ResetLastIp() => _lastIp.Reset();
}
