using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>
/// Decodes Intel PT bytes into <see cref="PtPacket"/> values, one per <see cref="Next"/>, without allocating.
/// <para>
/// Usage mirrors libipt's packet decoder: synchronise (<see cref="SyncForward"/>, <see cref="SyncBackward"/> or
/// <see cref="SyncSet"/>), then call <see cref="Next"/> until it returns something other than <see cref="PtStatus.Ok"/>.
/// An error leaves the position at the failing packet (<see cref="Offset"/>); the caller may then
/// <see cref="SyncForward"/> to the next PSB and continue. Packet boundaries and errors agree with libipt
/// (pt_pkt_next) for every packet libipt knows; BBP/BIP/BEP follow the SDM and the Linux kernel's decoder.
/// </para>
/// </summary>
public ref struct PtPacketDecoder
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _pos;
    private int _sync;
    // Non-zero between a BBP and the packet that ends its block: 4 or 8, the size of a BIP's item. Only there is a
    // byte with (b & 7) == 4 a BIP rather than a TNT-8, so the decoder must carry this one piece of context.
    private byte _blockItemSize;

    private static readonly ulong PsbWord = BitConverter.IsLittleEndian ? 0x8202_8202_8202_8202 : 0x0282_0282_0282_0282;

    public PtPacketDecoder(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _pos = -1;
        _sync = -1;
    }

    public readonly ReadOnlySpan<byte> Buffer => _buffer;

    /// <summary>Offset of the next packet (or of the error last returned); -1 before the first sync.</summary>
    public readonly int Offset => _pos;

    /// <summary>Offset of the last synchronisation point; -1 before the first sync.</summary>
    public readonly int SyncOffset => _sync;

    /// <summary>The error for a non-Ok status returned by this decoder, with its offset.</summary>
    public readonly PtError ErrorFor(PtStatus status) => new(status, Math.Max(_pos, 0));

    /// <summary>
    /// Moves to the next PSB after the current position (the first one in the buffer if not synced yet). When the
    /// decoder sits on the PSB it synced to, that PSB is skipped. Searches from up to 15 bytes back, so a PSB whose
    /// first bytes were swallowed by a bad preceding packet is still found.
    /// </summary>
    public PtStatus SyncForward()
    {
        int pos = _pos < 0 ? 0 : _pos;
        if (pos == _sync) pos += PtSync.PsbSize;
        int start = pos - Math.Min(pos, PtSync.PsbSize - 1);
        int psb = PtSync.Forward(_buffer, start);
        if (psb < 0) return PtStatus.EndOfStream;
        _sync = _pos = psb;
        _blockItemSize = 0;
        return PtStatus.Ok;
    }

    /// <summary>Moves to the PSB before the current position (the last one in the buffer if not synced yet).</summary>
    public PtStatus SyncBackward()
    {
        int pos = _pos < 0 ? _buffer.Length : _pos;
        int psb = PtSync.Backward(_buffer, pos);
        if (psb < 0) return PtStatus.EndOfStream;
        _sync = _pos = psb;
        _blockItemSize = 0;
        return PtStatus.Ok;
    }

    /// <summary>Declares <paramref name="offset"/> a packet boundary (like libipt's pt_pkt_sync_set: no PSB needed there).</summary>
    public PtStatus SyncSet(int offset)
    {
        if ((uint)offset > (uint)_buffer.Length) return PtStatus.EndOfStream;
        _sync = _pos = offset;
        _blockItemSize = 0;
        return PtStatus.Ok;
    }

    /// <summary>
    /// Synchronises at the PSB that starts at <paramref name="offset"/> (libipt's pt_sync_set): NoSync when there is
    /// none, EndOfStream when the offset is outside the buffer. The decoder is left alone on failure.
    /// </summary>
    public PtStatus SyncAtPsb(int offset)
    {
        if ((uint)offset > (uint)_buffer.Length) return PtStatus.EndOfStream;
        if (!PtSync.IsPsbAt(_buffer, offset)) return PtStatus.NoSync;
        return SyncSet(offset);
    }

    /// <summary>Decodes the packet at <see cref="Offset"/> and moves past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PtStatus Next(out PtPacket packet)
    {
        // Fast path for the one-byte packets that make up most of a trace (PAD and TNT-8), small enough to inline
        // into the caller's loop. A negative position (not synced) fails the unsigned bound check.
        int pos = _pos;
        ReadOnlySpan<byte> buffer = _buffer;
        if ((uint)pos < (uint)buffer.Length && _blockItemSize == 0)
        {
            byte b = Unsafe.Add(ref MemoryMarshal.GetReference(buffer), pos);
            if ((b & 1) == 0 && b != 2)
            {
                if (b == 0)
                {
                    packet = new PtPacket(PtPacketKind.Pad, 1, 0, 0, 0, 0);
                }
                else
                {
                    packet = Tnt8(b);
                }
                _pos = pos + 1;
                return PtStatus.Ok;
            }
        }
        return NextSlow(out packet);
    }

    // TNT-8: the payload is bits 7..1 up to the stop bit (the highest set bit); b is even and at least 4.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static PtPacket Tnt8(byte b)
    {
        int payload = b >> 1;
        int count = 31 - BitOperations.LeadingZeroCount((uint)payload);
        return new PtPacket(PtPacketKind.Tnt8, 1, (byte)count, 0, 0, (ulong)(payload & ~(1 << count)));
    }

    // Every packet: multi-byte ones, errors, and the one-byte ones inside a PEBS block (where they may be BIPs).
    private PtStatus NextSlow(out PtPacket packet)
    {
        int pos = _pos;
        if (pos < 0)
        {
            packet = default;
            return PtStatus.NoSync;
        }
        ReadOnlySpan<byte> buffer = _buffer;
        if ((uint)pos >= (uint)buffer.Length)
        {
            packet = default;
            return PtStatus.EndOfStream;
        }
        int left = buffer.Length - pos;
        ref byte at = ref Unsafe.Add(ref MemoryMarshal.GetReference(buffer), pos);
        byte b = at;

        PtStatus status;
        if (_blockItemSize != 0 && (b & 7) == 4)
        {
            status = DecodeBip(ref at, left, b, _blockItemSize, out packet);
        }
        else
        {
            switch (b & 3)
            {
                case 3:
                    status = DecodeCyc(ref at, left, b, out packet);
                    break;
                case 0:
                case 2:
                    if (b > 2)
                    {
                        packet = Tnt8(b);
                        status = PtStatus.Ok;
                    }
                    else if (b == 0)
                    {
                        packet = new PtPacket(PtPacketKind.Pad, 1, 0, 0, 0, 0);
                        status = PtStatus.Ok;
                    }
                    else
                    {
                        status = DecodeExtended(ref at, left, out packet);
                    }
                    break;
                default:
                    status = DecodeOdd(ref at, left, b, out packet);
                    break;
            }
        }

        if (status == PtStatus.Ok)
        {
            _pos = pos + packet.Size;
            if (_blockItemSize != 0 || packet.Kind == PtPacketKind.Bbp) UpdateBlockContext(packet);
        }
        return status;
    }

    private void UpdateBlockContext(in PtPacket packet)
    {
        switch (packet.Kind)
        {
            case PtPacketKind.Bbp:
                _blockItemSize = packet.Flag0 ? (byte)4 : (byte)8;
                break;
            // Packets that may appear inside a block without ending it (SDM; the kernel's decoder agrees).
            case PtPacketKind.Pad or PtPacketKind.Tsc or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Fup
                or PtPacketKind.Cyc or PtPacketKind.Cbr or PtPacketKind.Mnt or PtPacketKind.Exstop or PtPacketKind.Pwre
                or PtPacketKind.Pwrx or PtPacketKind.Bip or PtPacketKind.Trig:
                break;
            default:
                _blockItemSize = 0;
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadLe(ref byte at, int offset, int bytes, int left)
    {
        // One unaligned 8-byte load when the buffer allows it, masked to the payload width.
        if (left - offset >= 8)
        {
            ulong v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref at, offset));
            if (!BitConverter.IsLittleEndian) v = BinaryPrimitives.ReverseEndianness(v);
            return bytes == 8 ? v : v & ((1UL << (8 * bytes)) - 1);
        }
        ulong r = 0;
        for (int i = bytes - 1; i >= 0; i--) r = (r << 8) | Unsafe.Add(ref at, offset + i);
        return r;
    }

    private static PtStatus DecodeOdd(ref byte at, int left, byte b, out PtPacket packet)
    {
        PtPacketKind kind;
        switch (b & 0x1f)
        {
            case 0x0d: kind = PtPacketKind.Tip; break;
            case 0x11: kind = PtPacketKind.TipPge; break;
            case 0x01: kind = PtPacketKind.TipPgd; break;
            case 0x1d: kind = PtPacketKind.Fup; break;
            default:
                return DecodeOtherOdd(ref at, left, b, out packet);
        }
        int ipc = b >> 5;
        int n = PtIp.PayloadSize((PtIpCompression)ipc);
        if (n < 0)
        {
            packet = default;
            return PtStatus.BadIpBytes;
        }
        if (left < 1 + n)
        {
            packet = default;
            return PtStatus.Truncated;
        }
        ulong ip = n == 0 ? 0 : ReadLe(ref at, 1, n, left);
        packet = new PtPacket(kind, (byte)(1 + n), (byte)ipc, 0, 0, ip);
        return PtStatus.Ok;
    }

    private static PtStatus DecodeOtherOdd(ref byte at, int left, byte b, out PtPacket packet)
    {
        packet = default;
        switch (b)
        {
            case 0x99: // MODE
                if (left < 2) return PtStatus.Truncated;
                byte mode = Unsafe.Add(ref at, 1);
                switch (mode >> 5)
                {
                    case 0: packet = new PtPacket(PtPacketKind.ModeExec, 2, (byte)(mode & 0x1f), 0, 0, 0); return PtStatus.Ok;
                    case 1: packet = new PtPacket(PtPacketKind.ModeTsx, 2, (byte)(mode & 0x1f), 0, 0, 0); return PtStatus.Ok;
                    default: return PtStatus.BadPacket;
                }
            case 0x59: // MTC
                if (left < 2) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Mtc, 2, 0, 0, 0, Unsafe.Add(ref at, 1));
                return PtStatus.Ok;
            case 0x19: // TSC
                if (left < 8) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Tsc, 8, 0, 0, 0, ReadLe(ref at, 1, 7, left));
                return PtStatus.Ok;
            case 0xd9: // TRIG
            {
                if (left < 3) return PtStatus.Truncated;
                byte flags = Unsafe.Add(ref at, 1);
                byte trbv = Unsafe.Add(ref at, 2);
                if ((flags & PtPacket.TrigIcntValid) != 0)
                {
                    if (left < 5) return PtStatus.Truncated;
                    packet = new PtPacket(PtPacketKind.Trig, 5, trbv, (byte)(flags & 0xe0), (uint)ReadLe(ref at, 3, 2, left), 0);
                }
                else
                {
                    packet = new PtPacket(PtPacketKind.Trig, 3, trbv, (byte)(flags & 0xe0), 0, 0);
                }
                return PtStatus.Ok;
            }
            default:
                return PtStatus.BadOpcode;
        }
    }

    private static PtStatus DecodeCyc(ref byte at, int left, byte b, out PtPacket packet)
    {
        ulong value = (ulong)(b >> 3);
        int size = 1;
        if ((b & 4) != 0)
        {
            int shift = 5;
            while (true)
            {
                if (size >= left)
                {
                    packet = default;
                    return PtStatus.Truncated;
                }
                byte x = Unsafe.Add(ref at, size++);
                ulong bits = (ulong)(x >> 1) << shift;
                shift += 7;
                // libipt rejects a count whose bits would pass bit 63.
                if (shift > 64)
                {
                    packet = default;
                    return PtStatus.BadPacket;
                }
                value |= bits;
                if ((x & 1) == 0) break;
            }
        }
        packet = new PtPacket(PtPacketKind.Cyc, (byte)size, 0, 0, 0, value);
        return PtStatus.Ok;
    }

    private static PtStatus DecodeBip(ref byte at, int left, byte b, int itemSize, out PtPacket packet)
    {
        if (left < 1 + itemSize)
        {
            packet = default;
            return PtStatus.Truncated;
        }
        packet = new PtPacket(PtPacketKind.Bip, (byte)(1 + itemSize), (byte)(b >> 3), 0, 0, ReadLe(ref at, 1, itemSize, left));
        return PtStatus.Ok;
    }

    private static PtStatus DecodeExtended(ref byte at, int left, out PtPacket packet)
    {
        packet = default;
        if (left < 2) return PtStatus.Truncated;
        byte ext = Unsafe.Add(ref at, 1);
        switch (ext)
        {
            case 0x82: // PSB
                if (left < 16) return PtStatus.Truncated;
                // Both words as bytes 02 82 02 82 ... (the PSB pattern is a byte sequence; compare it as one).
                if (Unsafe.ReadUnaligned<ulong>(ref at) != PsbWord ||
                    Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref at, 8)) != PsbWord)
                    return PtStatus.BadPacket;
                packet = new PtPacket(PtPacketKind.Psb, 16, 0, 0, 0, 0);
                return PtStatus.Ok;
            case 0x23: packet = new PtPacket(PtPacketKind.PsbEnd, 2, 0, 0, 0, 0); return PtStatus.Ok;
            case 0xf3: packet = new PtPacket(PtPacketKind.Ovf, 2, 0, 0, 0, 0); return PtStatus.Ok;
            case 0x83: packet = new PtPacket(PtPacketKind.Stop, 2, 0, 0, 0, 0); return PtStatus.Ok;
            case 0x62: packet = new PtPacket(PtPacketKind.Exstop, 2, 0, 0, 0, 0); return PtStatus.Ok;
            case 0xe2: packet = new PtPacket(PtPacketKind.Exstop, 2, 0, 1, 0, 0); return PtStatus.Ok;
            case 0x33: packet = new PtPacket(PtPacketKind.Bep, 2, 0, 0, 0, 0); return PtStatus.Ok;
            case 0xb3: packet = new PtPacket(PtPacketKind.Bep, 2, 0, 1, 0, 0); return PtStatus.Ok;
            case 0xa3: // TNT-64
            {
                if (left < 8) return PtStatus.Truncated;
                ulong payload = ReadLe(ref at, 2, 6, left);
                if (payload == 0) return PtStatus.BadPacket;
                int count = 63 - BitOperations.LeadingZeroCount(payload);
                if (count == 0) return PtStatus.BadPacket;
                packet = new PtPacket(PtPacketKind.Tnt64, 8, (byte)count, 0, 0, payload & ~(1UL << count));
                return PtStatus.Ok;
            }
            case 0x43: // PIP
            {
                if (left < 8) return PtStatus.Truncated;
                ulong payload = ReadLe(ref at, 2, 6, left);
                packet = new PtPacket(PtPacketKind.Pip, 8, 0, (byte)(payload & 1), 0, (payload >> 1) << 5);
                return PtStatus.Ok;
            }
            case 0x03: // CBR
                if (left < 4) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Cbr, 4, Unsafe.Add(ref at, 2), 0, 0, 0);
                return PtStatus.Ok;
            case 0x73: // TMA
            {
                if (left < 7) return PtStatus.Truncated;
                uint ctc = (uint)ReadLe(ref at, 2, 2, left);
                uint fc = (uint)ReadLe(ref at, 5, 2, left);
                if (fc > 0x1ff || Unsafe.Add(ref at, 4) != 0) return PtStatus.BadPacket;
                packet = new PtPacket(PtPacketKind.Tma, 7, 0, 0, fc, ctc);
                return PtStatus.Ok;
            }
            case 0xc8: // VMCS
                if (left < 7) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Vmcs, 7, 0, 0, 0, ReadLe(ref at, 2, 5, left) << 12);
                return PtStatus.Ok;
            case 0xc2: // MWAIT
                if (left < 10) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Mwait, 10, 0, 0, (uint)ReadLe(ref at, 6, 4, left), ReadLe(ref at, 2, 4, left));
                return PtStatus.Ok;
            case 0x22: // PWRE
                if (left < 4) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Pwre, 4, 0, 0, (uint)ReadLe(ref at, 2, 2, left), 0);
                return PtStatus.Ok;
            case 0xa2: // PWRX
                if (left < 7) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Pwrx, 7, 0, 0, 0, ReadLe(ref at, 2, 5, left));
                return PtStatus.Ok;
            case 0x13: // CFE
            {
                if (left < 4) return PtStatus.Truncated;
                byte b2 = Unsafe.Add(ref at, 2);
                packet = new PtPacket(PtPacketKind.Cfe, 4, (byte)(b2 & 0x1f), (byte)(b2 >> 7), Unsafe.Add(ref at, 3), 0);
                return PtStatus.Ok;
            }
            case 0x53: // EVD
                if (left < 11) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Evd, 11, (byte)(Unsafe.Add(ref at, 2) & 0x1f), 0, 0, ReadLe(ref at, 3, 8, left));
                return PtStatus.Ok;
            case 0x63: // BBP
            {
                if (left < 3) return PtStatus.Truncated;
                byte b2 = Unsafe.Add(ref at, 2);
                packet = new PtPacket(PtPacketKind.Bbp, 3, (byte)(b2 & 0x1f), (byte)(b2 >> 7), 0, 0);
                return PtStatus.Ok;
            }
            case 0xc3: // ext2: MNT
                if (left < 3) return PtStatus.Truncated;
                if (Unsafe.Add(ref at, 2) != 0x88) return PtStatus.BadOpcode;
                if (left < 11) return PtStatus.Truncated;
                packet = new PtPacket(PtPacketKind.Mnt, 11, 0, 0, 0, ReadLe(ref at, 3, 8, left));
                return PtStatus.Ok;
            default:
                if ((ext & 0x1f) == 0x12) // PTWRITE
                {
                    int plc = (ext >> 5) & 3;
                    if (plc > 1) return PtStatus.BadPacket;
                    int n = plc == 0 ? 4 : 8;
                    if (left < 2 + n) return PtStatus.Truncated;
                    packet = new PtPacket(PtPacketKind.Ptw, (byte)(2 + n), (byte)plc, (byte)(ext >> 7), 0, ReadLe(ref at, 2, n, left));
                    return PtStatus.Ok;
                }
                return PtStatus.BadOpcode;
        }
    }
}
