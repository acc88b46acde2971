namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>What <see cref="PtDumpPrinter"/> shows; the names follow libipt's ptdump options.</summary>
public sealed record PtDumpPrinterOptions
{
    /// <summary>First column: the packet's offset (ptdump shows it unless --no-offset).</summary>
    public bool ShowOffset { get; init; } = true;
    /// <summary>ptdump --raw: the packet's bytes in hex.</summary>
    public bool ShowRawBytes { get; init; }
    /// <summary>ptdump --lastip: the decompressed IP after each IP packet.</summary>
    public bool ShowLastIp { get; init; }
    /// <summary>ptdump --exec-mode: the execution mode after each MODE.Exec.</summary>
    public bool ShowExecMode { get; init; }
    /// <summary>ptdump --time: the estimated TSC after each timing packet.</summary>
    public bool ShowTime { get; init; }
    /// <summary>ptdump --no-pad.</summary>
    public bool NoPad { get; init; }
    /// <summary>ptdump --no-timing: hide TSC, TMA, MTC, CYC and CBR.</summary>
    public bool NoTiming { get; init; }
    /// <summary>ptdump --no-cyc: hide CYC and leave it out of time tracking.</summary>
    public bool NoCyc { get; init; }
    /// <summary>Added to every printed offset: the position of the dumped bytes in their file.</summary>
    public long OffsetBase { get; init; }
    /// <summary>The trace's timing configuration (MTC frequency, TSC:CTC ratio, nominal frequency).</summary>
    public PtTimingConfig Timing { get; init; } = new();
}

/// <summary>
/// Prints a PT stream one packet a line in libipt ptdump's layout (columns, widths, payload forms, error lines,
/// resync at the next PSB), so its output can be diffed with ptdump's. Works on any span: a raw PT file, or an
/// AUXTRACE buffer cut out of a perf.data.
/// </summary>
public sealed class PtDumpPrinter
{
    private readonly TextWriter _out;
    private readonly PtDumpPrinterOptions _options;
    private readonly char[] _line = new char[256];

    public PtDumpPrinter(TextWriter output, PtDumpPrinterOptions? options = null)
    {
        _out = output;
        _options = options ?? new PtDumpPrinterOptions();
    }

    /// <summary>Dumps every packet from the first PSB on. Returns the decoding errors met (each printed as a line).</summary>
    public int Dump(ReadOnlySpan<byte> trace)
    {
        var decoder = new PtPacketDecoder(trace);
        var tracking = new Tracking(_options.Timing);
        int errors = 0;
        if (decoder.SyncForward() != PtStatus.Ok) return 0;
        while (true)
        {
            int offset = decoder.Offset;
            PtStatus status = decoder.Next(out PtPacket packet);
            if (status == PtStatus.Ok)
            {
                PrintPacket(offset, packet, trace, ref tracking);
                continue;
            }
            // ptdump treats a packet cut off by the end of the buffer like the end itself.
            if (status is PtStatus.EndOfStream or PtStatus.Truncated) return errors;
            errors++;
            Diag(offset + _options.OffsetBase, "error decoding packet", ErrorText(status));
            if (decoder.SyncForward() != PtStatus.Ok) return errors;
            tracking = new Tracking(_options.Timing);
        }
    }

    /// <summary>libipt's pt_errstr text for a status, as ptdump prints it.</summary>
    public static string ErrorText(PtStatus status) => status switch
    {
        PtStatus.BadOpcode => "unknown opcode",
        PtStatus.BadPacket or PtStatus.BadIpBytes => "unknown packet",
        PtStatus.EndOfStream or PtStatus.Truncated => "reached end of trace stream",
        PtStatus.NoSync => "decoder out of sync",
        _ => "OK",
    };

    private struct Tracking(PtTimingConfig timing)
    {
        public PtLastIp LastIp;
        public PtTimeTracker Time = new(timing);
    }

    // One line's fields, as ptdump's struct ptdump_buffer: each has ptdump's maximum width (snprintf truncates).
    private ref struct Fields
    {
        public string Opcode;
        public Span<char> Payload;
        public int PayloadLength;
        public string? TrackId;
        public Span<char> TrackPayload;
        public int TrackLength;
        public bool Skip;
    }

    private void PrintPacket(int offset, in PtPacket p, ReadOnlySpan<byte> trace, ref Tracking t)
    {
        Span<char> payload = stackalloc char[48];
        Span<char> track = stackalloc char[16];
        var f = new Fields { Opcode = "", Payload = payload, TrackPayload = track };
        long printed = offset + _options.OffsetBase;
        List<(long, string, string?)>? diags = null;

        switch (p.Kind)
        {
            case PtPacketKind.Psb:
                f.Opcode = "psb";
                t.Time.OnPsb();
                break;
            case PtPacketKind.PsbEnd:
                f.Opcode = "psbend";
                t.Time.OnPsbEnd();
                break;
            case PtPacketKind.Pad:
                f.Opcode = "pad";
                f.Skip = _options.NoPad;
                break;
            case PtPacketKind.Ovf:
                f.Opcode = "ovf";
                t.Time.OnOvf();
                break;
            case PtPacketKind.Stop: f.Opcode = "stop"; break;
            case PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd or PtPacketKind.Fup:
                f.Opcode = p.Kind switch { PtPacketKind.Tip => "tip", PtPacketKind.TipPge => "tip.pge", PtPacketKind.TipPgd => "tip.pgd", _ => "fup" };
                f.PayloadLength = FormatIp(payload, p);
                if (_options.ShowLastIp)
                {
                    f.TrackId = "ip";
                    t.LastIp.Update(p);
                    if (!t.LastIp.HasIp)
                    {
                        f.TrackLength = Put(track, 0, "<unavailable>");
                        (diags ??= []).Add((printed, "error tracking last-ip", "no ip"));
                    }
                    else if (t.LastIp.Suppressed) f.TrackLength = Put(track, 0, "<suppressed>");
                    else f.TrackLength = Hex16(track, 0, t.LastIp.Ip);
                }
                break;
            case PtPacketKind.Pip:
                f.Opcode = "pip";
                f.PayloadLength = Hex(payload, 0, p.PipCr3);
                if (p.PipNonRoot) f.PayloadLength = Put(payload, f.PayloadLength, ", nr");
                f.TrackId = "cr3";
                f.TrackLength = Hex16(track, 0, p.PipCr3);
                break;
            case PtPacketKind.Vmcs:
                f.Opcode = "vmcs";
                f.PayloadLength = Hex(payload, 0, p.Payload);
                f.TrackId = "vmcs";
                f.TrackLength = Hex16(track, 0, p.Payload);
                break;
            case PtPacketKind.Tnt8 or PtPacketKind.Tnt64:
                f.Opcode = p.Kind == PtPacketKind.Tnt8 ? "tnt.8" : "tnt.64";
                for (int bit = p.TntCount - 1; bit >= 0; bit--)
                    payload[f.PayloadLength++] = ((p.Payload >> bit) & 1) != 0 ? '!' : '.';
                break;
            case PtPacketKind.ModeExec:
            {
                f.Opcode = "mode.exec";
                bool csd = (p.Sub & PtPacket.ExecCsD) != 0, csl = (p.Sub & PtPacket.ExecCsL) != 0;
                if (csd) f.PayloadLength = Put(payload, 0, "cs.d");
                if (csd && csl) f.PayloadLength = Put(payload, f.PayloadLength, ", ");
                if (csl) f.PayloadLength = Put(payload, f.PayloadLength, "cs.l");
                if (_options.ShowExecMode)
                {
                    f.TrackId = "em";
                    f.TrackLength = Put(track, 0, csl ? (csd ? "unknown" : "64-bit") : (csd ? "32-bit" : "16-bit"));
                }
                break;
            }
            case PtPacketKind.ModeTsx:
            {
                f.Opcode = "mode.tsx";
                bool intx = (p.Sub & PtPacket.TsxInTx) != 0, abrt = (p.Sub & PtPacket.TsxAbort) != 0;
                if (intx) f.PayloadLength = Put(payload, 0, "intx");
                if (intx && abrt) f.PayloadLength = Put(payload, f.PayloadLength, ", ");
                if (abrt) f.PayloadLength = Put(payload, f.PayloadLength, "abrt");
                break;
            }
            case PtPacketKind.Tsc or PtPacketKind.Cbr or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Cyc:
                PrintTiming(ref f, p, printed, ref t, ref diags);
                break;
            case PtPacketKind.Mnt:
                f.Opcode = "mnt";
                f.PayloadLength = Hex(payload, 0, p.Payload);
                break;
            case PtPacketKind.Exstop:
                f.Opcode = "exstop";
                if (p.Flag0) f.PayloadLength = Put(payload, 0, "ip");
                break;
            case PtPacketKind.Mwait:
                f.Opcode = "mwait";
                f.PayloadLength = HexFixed(payload, 0, p.Payload, 8);
                f.PayloadLength = Put(payload, f.PayloadLength, ", ");
                f.PayloadLength = HexFixed(payload, f.PayloadLength, p.Aux, 8);
                break;
            case PtPacketKind.Pwre:
                f.Opcode = "pwre";
                f.PayloadLength = Put(payload, 0, "c");
                f.PayloadLength = Dec(payload, f.PayloadLength, (ulong)((p.PwreState + 1) & 0xf));
                f.PayloadLength = Put(payload, f.PayloadLength, ".");
                f.PayloadLength = Dec(payload, f.PayloadLength, (ulong)((p.PwreSubState + 1) & 0xf));
                if (p.PwreHw) f.PayloadLength = Put(payload, f.PayloadLength, ", hw");
                break;
            case PtPacketKind.Pwrx:
            {
                f.Opcode = "pwrx";
                int reasons = (p.PwrxInterrupt ? 1 : 0) + (p.PwrxStore ? 1 : 0) + (p.PwrxAutonomous ? 1 : 0);
                // ptdump's spelling, leading spaces included.
                string wr = reasons != 1 ? "bad" : p.PwrxInterrupt ? "int" : p.PwrxStore ? " st" : " hw";
                f.PayloadLength = Put(payload, 0, wr);
                f.PayloadLength = Put(payload, f.PayloadLength, ": c");
                f.PayloadLength = Dec(payload, f.PayloadLength, (ulong)((p.PwrxLast + 1) & 0xf));
                f.PayloadLength = Put(payload, f.PayloadLength, ", c");
                f.PayloadLength = Dec(payload, f.PayloadLength, (ulong)((p.PwrxDeepest + 1) & 0xf));
                break;
            }
            case PtPacketKind.Ptw:
                f.Opcode = "ptw";
                f.PayloadLength = Hex(payload, 0, p.Sub);
                f.PayloadLength = Put(payload, f.PayloadLength, ": ");
                f.PayloadLength = Hex(payload, f.PayloadLength, p.Payload);
                if (p.Flag0) f.PayloadLength = Put(payload, f.PayloadLength, ", ip");
                break;
            case PtPacketKind.Cfe:
                f.Opcode = "cfe";
                f.PayloadLength = Dec(payload, 0, p.Sub);
                // Types that carry a vector print it: interrupts in decimal, SIPI in hex.
                if (p.Sub is 1 or 9 or 12)
                {
                    f.PayloadLength = Put(payload, f.PayloadLength, ": ");
                    f.PayloadLength = Dec(payload, f.PayloadLength, p.Aux);
                }
                else if (p.Sub == 5)
                {
                    f.PayloadLength = Put(payload, f.PayloadLength, ": ");
                    f.PayloadLength = Hex(payload, f.PayloadLength, p.Aux);
                }
                if (p.Flag0) f.PayloadLength = Put(payload, f.PayloadLength, ", ip");
                break;
            case PtPacketKind.Evd:
                f.Opcode = "evd";
                f.PayloadLength = Dec(payload, 0, p.Sub);
                f.PayloadLength = Put(payload, f.PayloadLength, ": ");
                f.PayloadLength = Hex(payload, f.PayloadLength, p.Payload);
                break;
            case PtPacketKind.Trig:
                f.Opcode = "trig";
                f.PayloadLength = Hex(payload, 0, p.Sub);
                if ((p.Flags & PtPacket.TrigIp) != 0) f.PayloadLength = Put(payload, f.PayloadLength, ", ip");
                if ((p.Flags & PtPacket.TrigMult) != 0) f.PayloadLength = Put(payload, f.PayloadLength, ", mult");
                if ((p.Flags & PtPacket.TrigIcntValid) != 0)
                {
                    f.PayloadLength = Put(payload, f.PayloadLength, ", icnt: ");
                    f.PayloadLength = Dec(payload, f.PayloadLength, p.Aux);
                }
                break;
            case PtPacketKind.Bbp:
                f.Opcode = "bbp";
                f.PayloadLength = Hex(payload, 0, p.Sub);
                f.PayloadLength = Put(payload, f.PayloadLength, p.Flag0 ? ", sz 4" : ", sz 8");
                break;
            case PtPacketKind.Bip:
                f.Opcode = "bip";
                f.PayloadLength = Hex(payload, 0, p.Sub);
                f.PayloadLength = Put(payload, f.PayloadLength, ": ");
                f.PayloadLength = Hex(payload, f.PayloadLength, p.Payload);
                break;
            case PtPacketKind.Bep:
                f.Opcode = "bep";
                if (p.Flag0) f.PayloadLength = Put(payload, 0, "ip");
                break;
        }

        if (diags != null)
            foreach (var (o, what, why) in diags) Diag(o, what, why);
        if (f.Skip) return;
        WriteLine(printed, trace.Slice(offset, p.Size), ref f);
    }

    private void PrintTiming(ref Fields f, in PtPacket p, long printed, ref Tracking t, ref List<(long, string, string?)>? diags)
    {
        bool showTime = _options.ShowTime;
        string? error = null;
        switch (p.Kind)
        {
            case PtPacketKind.Tsc:
                f.Opcode = "tsc";
                f.PayloadLength = Hex(f.Payload, 0, p.Payload);
                if (showTime) error = t.Time.OnTsc(p.Payload);
                break;
            case PtPacketKind.Cbr:
                f.Opcode = "cbr";
                f.PayloadLength = Hex(f.Payload, 0, p.Sub);
                if (showTime) error = t.Time.OnCbr(p.Sub);
                showTime = false; // ptdump: "There is no timing update at this packet."
                break;
            case PtPacketKind.Tma:
                f.Opcode = "tma";
                f.PayloadLength = Hex(f.Payload, 0, p.Payload);
                f.PayloadLength = Put(f.Payload, f.PayloadLength, ", ");
                f.PayloadLength = Hex(f.Payload, f.PayloadLength, p.Aux);
                if (showTime) error = t.Time.OnTma((ushort)p.Payload, (ushort)p.Aux);
                break;
            case PtPacketKind.Mtc:
                f.Opcode = "mtc";
                f.PayloadLength = Hex(f.Payload, 0, p.Payload);
                if (showTime) error = t.Time.OnMtc((byte)p.Payload);
                break;
            case PtPacketKind.Cyc:
                f.Opcode = "cyc";
                f.PayloadLength = Hex(f.Payload, 0, p.Payload);
                if (_options.NoCyc) showTime = false;
                else if (showTime)
                {
                    error = t.Time.OnCyc(p.Payload);
                    // ptdump first fails to read the calibration, then to use it.
                    if (error == "no calibration") (diags ??= []).Add((printed, "calibration error", "no timing information"));
                }
                f.Skip |= _options.NoCyc;
                break;
        }
        f.Skip |= _options.NoTiming;
        if (error != null) (diags ??= []).Add((printed, "error updating time", error));
        if (!showTime) return;
        f.TrackId = "tsc";
        if (t.Time.TryGetTsc(out ulong tsc)) f.TrackLength = Hex16(f.TrackPayload, 0, tsc);
        else
        {
            (diags ??= []).Add((printed, "error printing time", "no timing information"));
            f.TrackLength = Put(f.TrackPayload, 0, "<unavailable>");
        }
    }

    private void WriteLine(long offset, ReadOnlySpan<byte> raw, ref Fields f)
    {
        Span<char> line = _line;
        int n = 0;
        bool sep = false;
        if (_options.ShowOffset)
        {
            n = Hex16(line, 0, (ulong)offset);
            n = Pad(line, n, 17);
            sep = true;
        }
        if (_options.ShowRawBytes)
        {
            if (sep) line[n++] = ' ';
            int start = n;
            // ptdump's raw column holds 16 bytes; longer packets are cut (it prints a diagnostic for them).
            for (int i = 0; i < raw.Length && i < 16; i++) n = HexFixed(line, n, raw[i], 2);
            n = Pad(line, n, start + 33);
            sep = true;
        }
        if (sep) line[n++] = ' ';
        int opStart = n;
        n = Put(line, n, f.Opcode);
        bool hasPayload = f.PayloadLength > 0;
        if (hasPayload || f.TrackId != null) n = Pad(line, n, opStart + (hasPayload ? 10 : 0));
        if (f.TrackId != null)
        {
            line[n++] = ' ';
            int ps = n;
            n = Put(line, n, f.Payload[..Math.Min(f.PayloadLength, 24)]);
            n = Pad(line, n, ps + 25);
            line[n++] = ' ';
            int ts = n;
            n = Put(line, n, f.TrackId);
            n = Pad(line, n, ts + 5);
            n = Put(line, n, f.TrackPayload[..f.TrackLength]);
        }
        else if (hasPayload)
        {
            line[n++] = ' ';
            // TNT uses ptdump's 48-char extended payload; every other payload its 25-char field.
            int max = f.Opcode.StartsWith("tnt", StringComparison.Ordinal) ? 47 : 24;
            n = Put(line, n, f.Payload[..Math.Min(f.PayloadLength, max)]);
        }
        line[n++] = '\n';
        _out.Write(line[..n]);
    }

    private void Diag(long offset, string what, string? why)
    {
        _out.Write('[');
        _out.Write(offset.ToString("x"));
        _out.Write(": ");
        _out.Write(what);
        if (why != null)
        {
            _out.Write(": ");
            _out.Write(why);
        }
        _out.Write("]\n");
    }

    private static int FormatIp(Span<char> d, in PtPacket p)
    {
        int n = Dec(d, 0, p.Sub);
        n = Put(d, n, ": ");
        switch (p.IpCompression)
        {
            case PtIpCompression.Suppressed: return Put(d, n, "????????????????");
            case PtIpCompression.Update16: n = Put(d, n, "????????????"); return HexFixed(d, n, p.Payload, 4);
            case PtIpCompression.Update32: n = Put(d, n, "????????"); return HexFixed(d, n, p.Payload, 8);
            case PtIpCompression.Update48: n = Put(d, n, "????"); return HexFixed(d, n, p.Payload, 12);
            case PtIpCompression.SignExtend48: return Hex16(d, n, PtIp.SignExtend48(p.Payload));
            default: return Hex16(d, n, p.Payload);
        }
    }

    private static int Put(Span<char> d, int at, ReadOnlySpan<char> s)
    {
        s.CopyTo(d[at..]);
        return at + s.Length;
    }

    private static int Pad(Span<char> d, int at, int width)
    {
        while (at < width) d[at++] = ' ';
        return at;
    }

    private static int Hex16(Span<char> d, int at, ulong v) => HexFixed(d, at, v, 16);

    private static int HexFixed(Span<char> d, int at, ulong v, int digits)
    {
        for (int i = digits - 1; i >= 0; i--, v >>= 4) d[at + i] = "0123456789abcdef"[(int)(v & 0xf)];
        return at + digits;
    }

    private static int Hex(Span<char> d, int at, ulong v)
    {
        int digits = 1;
        for (ulong r = v >> 4; r != 0; r >>= 4) digits++;
        return HexFixed(d, at, v, digits);
    }

    private static int Dec(Span<char> d, int at, ulong v)
    {
        v.TryFormat(d[at..], out int written);
        return at + written;
    }
}
