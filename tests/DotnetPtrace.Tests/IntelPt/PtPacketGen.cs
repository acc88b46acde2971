using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>Random valid packets and streams (seeded, so a failure names a reproducible case).</summary>
internal static class PtPacketGen
{
    /// <summary>The kinds the Debian libipt 2.0.5 decodes (it predates CFE, EVD, TRIG; no libipt has BBP/BIP/BEP).</summary>
    public static readonly PtPacketKind[] LibiptKinds =
    [
        PtPacketKind.Pad, PtPacketKind.Psb, PtPacketKind.PsbEnd, PtPacketKind.Ovf, PtPacketKind.Stop,
        PtPacketKind.Tnt8, PtPacketKind.Tnt64, PtPacketKind.Tip, PtPacketKind.TipPge, PtPacketKind.TipPgd, PtPacketKind.Fup,
        PtPacketKind.ModeExec, PtPacketKind.ModeTsx, PtPacketKind.Pip, PtPacketKind.Tsc, PtPacketKind.Cbr, PtPacketKind.Tma,
        PtPacketKind.Mtc, PtPacketKind.Cyc, PtPacketKind.Vmcs, PtPacketKind.Mnt, PtPacketKind.Exstop, PtPacketKind.Mwait,
        PtPacketKind.Pwre, PtPacketKind.Pwrx, PtPacketKind.Ptw,
    ];

    public static readonly PtPacketKind[] AllKinds =
        [.. LibiptKinds, PtPacketKind.Cfe, PtPacketKind.Evd, PtPacketKind.Trig, PtPacketKind.Bbp];

    private static ulong U64(Random r) => (ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63);

    // Values with few significant bits are as interesting as full-width ones (shortest encodings, boundaries).
    private static ulong Value(Random r, int bits)
    {
        ulong v = U64(r) >> r.Next(64);
        return bits == 64 ? v : v & ((1UL << bits) - 1);
    }

    public static PtPacket Packet(Random r, PtPacketKind kind) => kind switch
    {
        PtPacketKind.Pad or PtPacketKind.Psb or PtPacketKind.PsbEnd or PtPacketKind.Ovf or PtPacketKind.Stop => PtPacket.Create(kind),
        PtPacketKind.Tnt8 => PtPacket.CreateTnt(r.Next(1, 7), U64(r)),
        PtPacketKind.Tnt64 => PtPacket.CreateTnt(r.Next(7, 48), U64(r)),
        PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd or PtPacketKind.Fup =>
            PtPacket.CreateIp(kind, (PtIpCompression)new[] { 0, 1, 2, 3, 4, 6 }[r.Next(6)], U64(r)),
        PtPacketKind.ModeExec => PtPacket.CreateModeExec((byte)r.Next(8)),
        PtPacketKind.ModeTsx => PtPacket.CreateModeTsx((byte)r.Next(4)),
        PtPacketKind.Pip => PtPacket.CreatePip(Value(r, 52), r.Next(2) == 1),
        PtPacketKind.Tsc => PtPacket.CreateTsc(Value(r, 56)),
        PtPacketKind.Cbr => PtPacket.CreateCbr((byte)r.Next(256)),
        PtPacketKind.Tma => PtPacket.CreateTma((ushort)r.Next(65536), (ushort)r.Next(512)),
        PtPacketKind.Mtc => PtPacket.CreateMtc((byte)r.Next(256)),
        PtPacketKind.Cyc => PtPacket.CreateCyc(Value(r, 61)),
        PtPacketKind.Vmcs => PtPacket.CreateVmcs(Value(r, 52)),
        PtPacketKind.Mnt => PtPacket.CreateMnt(U64(r)),
        PtPacketKind.Exstop => PtPacket.CreateExstop(r.Next(2) == 1),
        PtPacketKind.Mwait => PtPacket.CreateMwait((uint)r.NextInt64(), (uint)r.NextInt64()),
        PtPacketKind.Pwre => PtPacket.CreatePwre((ushort)r.Next(65536)),
        PtPacketKind.Pwrx => PtPacket.CreatePwrx(Value(r, 40)),
        PtPacketKind.Ptw => PtPacket.CreatePtw(r.Next(2) == 1, U64(r), r.Next(2) == 1),
        PtPacketKind.Cfe => PtPacket.CreateCfe((byte)r.Next(32), (byte)r.Next(256), r.Next(2) == 1),
        PtPacketKind.Evd => PtPacket.CreateEvd((byte)r.Next(32), U64(r)),
        PtPacketKind.Trig => PtPacket.CreateTrig((byte)r.Next(256), r.Next(2) == 1, r.Next(2) == 1,
            r.Next(2) == 1 ? (ushort)r.Next(65536) : null),
        PtPacketKind.Bbp => PtPacket.CreateBbp((byte)r.Next(32), r.Next(2) == 1),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// A random packet sequence starting with a PSB. A BBP is followed by its BIPs (of the size it announces) and a
    /// BEP, as hardware writes a PEBS block; PSBs recur now and then so resync has places to land.
    /// </summary>
    public static List<PtPacket> Sequence(Random r, int count, PtPacketKind[] kinds)
    {
        var list = new List<PtPacket> { PtPacket.Create(PtPacketKind.Psb) };
        while (list.Count < count)
        {
            PtPacketKind kind = kinds[r.Next(kinds.Length)];
            PtPacket p = Packet(r, kind);
            list.Add(p);
            if (kind == PtPacketKind.Bbp)
            {
                bool eight = !p.Flag0;
                for (int i = r.Next(0, 5); i > 0; i--) list.Add(PtPacket.CreateBip((byte)r.Next(32), U64(r), eight));
                list.Add(PtPacket.CreateBep(r.Next(2) == 1));
            }
        }
        return list;
    }

    /// <summary>Encodes a sequence; returns the bytes and each packet's offset.</summary>
    public static (byte[] Bytes, int[] Offsets) Encode(List<PtPacket> packets)
    {
        var buffer = new byte[packets.Count * PtPacketEncoder.MaxPacketSize];
        var offsets = new int[packets.Count];
        int pos = 0;
        for (int i = 0; i < packets.Count; i++)
        {
            offsets[i] = pos;
            int n = PtPacketEncoder.Encode(packets[i], buffer.AsSpan(pos));
            if (n <= 0) throw new InvalidOperationException($"cannot encode {packets[i]}: {n}");
            pos += n;
        }
        return (buffer[..pos], offsets);
    }
}
