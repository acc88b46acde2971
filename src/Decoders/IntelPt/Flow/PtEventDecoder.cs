using System.Runtime.CompilerServices;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// The event layer: turns packets into a linear stream of <see cref="PtEvent"/>s, the way libipt's event decoder
/// (pt_evt_*) defines them. It reads the PSB+ header into status updates, combines packets that belong together
/// (FUP + TIP is an asynchronous branch, OVF + FUP an overflow that resumes at an IP, MODE.Exec binds to the next
/// TIP/TIP.PGE, FUP-bound packets wait for their FUP), tracks the last IP and time, applies errata, and passes
/// conditional branch bits (<see cref="PtEventType.Tnt"/>) and indirect branch targets (<see cref="PtEventType.Tip"/>)
/// through for the block decoder. It allocates nothing; the whole state is a value, so a caller can copy it to
/// look ahead and roll back.
/// <para>
/// Errors come back as <see cref="PtFlowError"/>; <see cref="Offset"/> then tells where (the packet being decoded).
/// Decoding never throws on bad input; after an error, <see cref="SyncForward"/> resumes at the next PSB.
/// </para>
/// </summary>
public ref struct PtEventDecoder
{
    private PtPacketDecoder _pkt;
    private readonly PtFlowConfig _config;
    // The current packet: fetched but not yet fully decoded. _packetSize is 0 when there is none (an error).
    private PtPacket _packet;
    private int _packetSize;
    private bool _packetValid;
    // The packet decoder's error, delivered when the decoder reaches it.
    private PtFlowError _status;
    // The slot of the event to deliver from Next, or -1.
    private int _event;
    private bool _enabled, _bound, _modeExecValid;
    private bool _iflag, _csd, _csl;
    private LastIp _ip;
    private PtTimeTracker _time;
    private PtEventQueue _evq;
    // The PSB we last synchronised at (libipt's decoder->sync). Kept here rather than in the packet decoder, which
    // is repositioned past runs of PAD with SyncSet.
    private int _syncOffset;

    public PtEventDecoder(ReadOnlySpan<byte> trace, PtFlowConfig config)
    {
        _pkt = new PtPacketDecoder(trace);
        _config = config;
        _event = -1;
        _syncOffset = -1;
        Reset();
    }

    public readonly PtFlowConfig Config => _config;

    /// <summary>Offset of the packet being decoded (libipt's pt_evt_get_offset): where an error happened.</summary>
    public readonly long Offset => Math.Max(0, _pkt.Offset - _packetSize);

    /// <summary>Offset of the PSB this decoder last synchronised at.</summary>
    public readonly long SyncOffset => _syncOffset;

    /// <summary>The packet decoder's position: after the current packet.</summary>
    internal readonly int PacketPosition => _pkt.Offset;

    private void Reset()
    {
        _packetValid = false;
        _packetSize = 0;
        _status = PtFlowError.NoSync;
        _event = -1;
        _enabled = _bound = _modeExecValid = false;
        _ip.Reset();
        _time = new PtTimeTracker(_config.Timing);
        _evq.Clear();
    }

    /// <summary>Synchronises at the next PSB and reads its header; EndOfStream when there is none.</summary>
    public PtFlowError SyncForward()
    {
        Reset();
        // As libipt's pt_pkt_sync_forward: from the current position (past the PSB we sit on), searching from up to
        // 15 bytes back so a PSB partly swallowed by a bad packet is still found.
        int pos = Math.Max(_pkt.Offset, 0);
        if (pos == _syncOffset) pos += PtSync.PsbSize;
        int psb = PtSync.Forward(_pkt.Buffer, pos - Math.Min(pos, PtSync.PsbSize - 1));
        if (psb < 0 || _pkt.SyncSet(psb) != PtStatus.Ok) return PtFlowError.EndOfStream;
        _syncOffset = psb;
        return Start();
    }

    /// <summary>Synchronises at the PSB that starts at <paramref name="offset"/>.</summary>
    public PtFlowError SyncSet(int offset)
    {
        Reset();
        PtStatus s = _pkt.SyncAtPsb(offset);
        if (s != PtStatus.Ok) return s == PtStatus.NoSync ? PtFlowError.NoSync : PtFlowError.EndOfStream;
        _syncOffset = offset;
        return Start();
    }

    private PtFlowError Start()
    {
        _status = PtFlowError.Ok;
        FetchPacket();
        if (!_packetValid) return _status == PtFlowError.Ok ? PtFlowError.Internal : _status;
        if (_packet.Kind != PtPacketKind.Psb) return PtFlowError.NoSync;
        int r = DecodePsb();
        return r < 0 ? (PtFlowError)(-r) : PtFlowError.Ok;
    }

    /// <summary>The next event.</summary>
    public PtFlowError Next(out PtEvent ev)
    {
        int r = FetchEvent();
        if (r < 0)
        {
            ev = PtEvent.Invalid;
            return (PtFlowError)(-r);
        }
        ev = _evq[_event];
        _event = -1;
        return PtFlowError.Ok;
    }

    /// <summary>
    /// The fast path of <see cref="Next"/> for the events that dominate a trace: when the current packet is a TNT or a
    /// plain TIP (no asynchronous branch waiting for it), makes exactly the event <see cref="Next"/> would, with the
    /// same effect on the decoder. False when the general path is needed; nothing has changed then.
    /// </summary>
    /// <summary>
    /// The fastest case of <see cref="TryNextBranch"/>: <paramref name="ev"/> is a used-up TNT event and the current
    /// packet is another TNT; only the bits and the time change.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryNextTnt(ref PtEvent ev)
    {
        if (_event >= 0 || !_packetValid || !_enabled || _packet.Kind is not (PtPacketKind.Tnt8 or PtPacketKind.Tnt64)) return false;
        ev.Payload = _packet.Payload;
        ev.Small = _packet.Sub;
        ev.HasTsc = false;
        EventTime(ref ev);
        FetchPacket();
        return true;
    }

    internal bool TryNextBranch(ref PtEvent ev)
    {
        if (_event >= 0 || !_packetValid) return false;
        if (_packet.Kind is PtPacketKind.Tip or PtPacketKind.TipPge && _bound && _enabled)
        {
            // The TIP (or TIP.PGE) was delivered; with nothing else bound to it, Next would move past it.
            if (_evq.Pending(PtEventBinding.Tip)) return false;
            _bound = false;
            FetchPacket();
            if (!_packetValid) return false;
        }
        switch (_packet.Kind)
        {
            case PtPacketKind.Tnt8 or PtPacketKind.Tnt64 when _enabled:
                // After a TNT, only its own fields differ (the rest is the same cleared event).
                if (ev.Type != PtEventType.Tnt || ev.Bits != 0 || ev.IpSuppressed || ev.StatusUpdate) ev = default;
                ev.Type = PtEventType.Tnt;
                ev.Payload = _packet.Payload;
                ev.Small = _packet.Sub;
                ev.HasTsc = false;
                EventTime(ref ev);
                FetchPacket();
                return true;
            case PtPacketKind.Tip when _enabled && !_bound && _evq.Find(PtEventBinding.Tip, PtEventType.AsyncBranch) < 0:
                if (!_ip.Update(_packet.IpCompression, _packet.Payload)) return false;
                ev = default;
                ev.Type = PtEventType.Tip;
                EventIp(ref ev, ref ev.Ip);
                EventTime(ref ev);
                _bound = true;
                return true;
            case PtPacketKind.TipPge when !_bound:
                if (!_ip.Update(_packet.IpCompression, _packet.Payload)) return false;
                ev = default;
                ev.Type = PtEventType.Enabled;
                EventIp(ref ev, ref ev.Ip);
                _enabled = true;
                _bound = true;
                EventTime(ref ev);
                return true;
            case PtPacketKind.TipPgd when !_bound && !_evq.Pending(PtEventBinding.Tip):
                if (!_ip.Update(_packet.IpCompression, _packet.Payload)) return false;
                ev = default;
                ev.Type = PtEventType.Disabled;
                EventIp(ref ev, ref ev.Ip);
                EventTime(ref ev);
                _enabled = false;
                FetchPacket();
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// The last IP (SDM "IP compression") as libipt's pt_last_ip keeps it: the same arithmetic as
    /// <see cref="PtLastIp"/>, inlined here because every TIP, FUP and TIP.PGE/PGD goes through it.
    /// </summary>
    private struct LastIp
    {
        public ulong Ip;
        public bool HasIp;
        public bool Suppressed;

        public void Reset() => this = default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
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
                case PtIpCompression.SignExtend48: Ip = (ulong)((long)(payload << 16) >> 16); break;
                case PtIpCompression.Full: Ip = payload; break;
                default: return false;
            }
            HasIp = true;
            Suppressed = false;
            return true;
        }
    }

    // ---- packets ----

    /// <summary>
    /// The next packet as libipt's packet decoder sees it: the PEBS block packets (BBP, BIP, BEP) are no packets it
    /// knows, so they are an unknown opcode at their offset, with the position left there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PtFlowError NextPacket(ref PtPacketDecoder d, out PtPacket p)
    {
        int pos = d.Offset;
        ReadOnlySpan<byte> buf = d.Buffer;
        if ((uint)pos < (uint)buf.Length && buf[pos] == 0x02)
        {
            PtPacketDecoder saved = d;
            PtStatus s = d.Next(out p);
            if (s != PtStatus.Ok) return PtFlowErrors.FromPacketStatus(s);
            if (p.Kind is PtPacketKind.Bbp or PtPacketKind.Bep or PtPacketKind.Bip)
            {
                d = saved;
                return PtFlowError.BadOpcode;
            }
            return PtFlowError.Ok;
        }
        PtStatus st = d.Next(out p);
        return st == PtStatus.Ok ? PtFlowError.Ok : PtFlowErrors.FromPacketStatus(st);
    }

    /// <summary>Fetches the next packet, skipping PAD; an error is stored and delivered when reached.</summary>
    private int FetchPacket()
    {
        while (true)
        {
            // Runs of PAD (a third of some traces) are skipped at once rather than decoded one by one.
            int pos = _pkt.Offset;
            ReadOnlySpan<byte> buf = _pkt.Buffer;
            if ((uint)pos < (uint)buf.Length && buf[pos] == 0)
            {
                int run = buf[pos..].IndexOfAnyExcept((byte)0);
                _pkt.SyncSet(run < 0 ? buf.Length : pos + run);
            }
            PtFlowError e = NextPacket(ref _pkt, out _packet);
            if (e != PtFlowError.Ok)
            {
                _packetValid = false;
                _packetSize = 0;
                _status = e;
                return 0;
            }
            if (_packet.Kind != PtPacketKind.Pad) break;
        }
        _packetValid = true;
        _packetSize = _packet.Size;
        return 0;
    }

    private static int Fail(PtFlowError e) => -(int)e;

    private readonly void EventTime(ref PtEvent ev)
    {
        if (_time.TryGetTsc(out ulong tsc))
        {
            ev.HasTsc = true;
        }
        ev.Tsc = tsc;
        ev.LostMtc = _time.LostMtc;
        ev.LostCyc = _time.LostCyc;
    }

    /// <summary>The last IP for an event: suppressed when there is none (libipt pt_evt_event_ip).</summary>
    private readonly void EventIp(ref PtEvent ev, ref ulong field)
    {
        if (!_ip.HasIp || _ip.Suppressed)
        {
            ev.IpSuppressed = true;
            field = 0;
            return;
        }
        field = _ip.Ip;
    }

    private void SetEventIp(int slot)
    {
        ref PtEvent ev = ref _evq[slot];
        EventIp(ref ev, ref ev.Ip);
    }

    private int UpdateIp(in PtPacket packet) => _ip.Update(packet.IpCompression, packet.Payload) ? 0 : Fail(PtFlowError.BadPacket);

    private static PtFlowError TimeError(string? error) => error switch
    {
        null or "bad configuration" or "no calibration" => PtFlowError.Ok,
        "unexpected packet context" => PtFlowError.BadContext,
        "unknown packet" => PtFlowError.BadPacket,
        _ => PtFlowError.Internal,
    };

    private int ApplyTime(in PtPacket p)
    {
        string? error = p.Kind switch
        {
            PtPacketKind.Tsc => _time.OnTsc(p.Payload),
            PtPacketKind.Cbr => _time.OnCbr(p.Sub),
            PtPacketKind.Tma => _time.OnTma((ushort)p.Payload, (ushort)p.Aux),
            PtPacketKind.Mtc => _time.OnMtc((byte)p.Payload),
            PtPacketKind.Cyc => _time.OnCyc(p.Payload),
            _ => null,
        };
        PtFlowError e = TimeError(error);
        return e == PtFlowError.Ok ? 0 : Fail(e);
    }

    private static PtExecMode ExecMode(byte bits) =>
        (bits & PtPacket.ExecCsL) != 0 ? PtExecMode.Bit64 : (bits & PtPacket.ExecCsD) != 0 ? PtExecMode.Bit32 : PtExecMode.Bit16;

    // ---- PSB+ ----

    /// <summary>
    /// Reads a PSB+ header. Its packets restate the current state; their order is undefined, so all of them bind to
    /// PSBEND (or an OVF in its place) and become status updates queued behind one enabled/disabled status event.
    /// </summary>
    private int DecodePsb()
    {
        // Partial events must not be carried across a PSB.
        if (_evq.Pending(PtEventBinding.All)) return Fail(PtFlowError.BadContext);
        _ip.Reset();
        _enabled = false;
        _time.OnPsb();

        int first = _evq.Enqueue(PtEventBinding.PsbEnd);
        if (first < 0) return Fail(PtFlowError.NoMemory);
        _evq[first].StatusUpdate = true;

        while (true)
        {
            FetchPacket();
            int r;
            switch (_packet.Kind)
            {
                case PtPacketKind.Fup when _packetValid: r = HeaderFup(); break;
                case PtPacketKind.ModeExec when _packetValid: r = HeaderModeExec(); break;
                case PtPacketKind.ModeTsx when _packetValid: r = HeaderStatus(PtEventType.Tsx); break;
                case PtPacketKind.Pip when _packetValid: r = HeaderStatus(PtEventType.AsyncPaging); break;
                case PtPacketKind.Vmcs when _packetValid: r = HeaderStatus(PtEventType.AsyncVmcs); break;
                case PtPacketKind.Mnt when _packetValid: r = HeaderStatus(PtEventType.Mnt); break;
                case PtPacketKind.Tsc or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Cyc when _packetValid:
                    r = ApplyTime(_packet);
                    break;
                case PtPacketKind.Cbr when _packetValid:
                    r = ApplyTime(_packet);
                    if (r == 0) r = HeaderStatus(PtEventType.Cbr);
                    break;
                case PtPacketKind.PsbEnd when _packetValid:
                    _time.OnPsbEnd();
                    if (_enabled) _evq[first].Type = PtEventType.Enabled;
                    else
                    {
                        _evq[first].Type = PtEventType.Disabled;
                        _evq[first].IpSuppressed = true;
                    }
                    return 1;
                case PtPacketKind.Ovf when _packetValid:
                    // An OVF ends the header like PSBEND. Without tracing enabled the status event goes away: the
                    // FUP may have been lost and the overflow event will say what is known.
                    _time.OnPsbEnd();
                    if (_enabled) _evq[first].Type = PtEventType.Enabled;
                    else if (_evq.Dequeue(PtEventBinding.PsbEnd) != first) return Fail(PtFlowError.Internal);
                    return 1;
                default:
                    r = _packetValid ? Fail(PtFlowError.BadContext) : Fail(_status);
                    break;
            }
            if (r < 0) return r;
        }
    }

    private int HeaderFup()
    {
        bool enabled = _packet.IpCompression != PtIpCompression.Suppressed;
        if (_config.Errata.Bdm70)
        {
            int r = CheckBdm70();
            if (r < 0) return r;
            if (r > 0) enabled = false;
        }
        _enabled = enabled;
        if (!enabled) return 0;
        return UpdateIp(_packet);
    }

    /// <summary>BDM70: a TIP.PGE right after the header means the header's FUP/MODE.Exec came too early; tracing is off.</summary>
    private readonly int CheckBdm70()
    {
        PtPacketDecoder d = _pkt;
        while (true)
        {
            PtFlowError e = NextPacket(ref d, out PtPacket p);
            if (e != PtFlowError.Ok) return e == PtFlowError.EndOfStream ? 0 : Fail(e);
            switch (p.Kind)
            {
                case PtPacketKind.TipPge: return 1;
                case PtPacketKind.Pad or PtPacketKind.Tsc or PtPacketKind.Cbr or PtPacketKind.PsbEnd or PtPacketKind.Pip
                    or PtPacketKind.ModeExec or PtPacketKind.ModeTsx or PtPacketKind.Vmcs or PtPacketKind.Tma
                    or PtPacketKind.Mtc or PtPacketKind.Cyc or PtPacketKind.Mnt:
                    break;
                default: return 0;
            }
        }
    }

    private int HeaderModeExec()
    {
        byte bits = _packet.Sub;
        bool iflag = (bits & PtPacket.ExecIf) != 0, csd = (bits & PtPacket.ExecCsD) != 0, csl = (bits & PtPacket.ExecCsL) != 0;
        if (_modeExecValid)
        {
            // A status update that contradicts what we know: the iflag only when all its changes are traced.
            if (_config.EnableIflagsEvents && _iflag != iflag) return Fail(PtFlowError.BadStatusUpdate);
            if (_csd != csd || _csl != csl) return Fail(PtFlowError.BadStatusUpdate);
        }
        else
        {
            _modeExecValid = true;
            _iflag = iflag;
            _csd = csd;
            _csl = csl;
        }
        int slot = _evq.Enqueue(PtEventBinding.PsbEnd);
        if (slot < 0) return Fail(PtFlowError.NoMemory);
        ref PtEvent ev = ref _evq[slot];
        ev.StatusUpdate = true;
        ev.Type = PtEventType.ExecMode;
        ev.Small = (byte)ExecMode(bits);
        if (_config.EnableIflagsEvents)
        {
            slot = _evq.Enqueue(PtEventBinding.PsbEnd);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            ref PtEvent iev = ref _evq[slot];
            iev.StatusUpdate = true;
            iev.Type = PtEventType.Iflags;
            iev.Set(PtEventBits.Iflag, iflag);
        }
        return 0;
    }

    /// <summary>Queues a status update for a header packet (MODE.TSX, PIP, VMCS, MNT, CBR).</summary>
    private int HeaderStatus(PtEventType type)
    {
        int slot = _evq.Enqueue(PtEventBinding.PsbEnd);
        if (slot < 0) return Fail(PtFlowError.NoMemory);
        ref PtEvent ev = ref _evq[slot];
        ev.Type = type;
        // libipt does not mark MNT from the header as a status update.
        ev.StatusUpdate = type != PtEventType.Mnt;
        FillFromPacket(ref ev, _packet);
        return 0;
    }

    /// <summary>Copies a packet's payload into the event fields its type uses.</summary>
    private static void FillFromPacket(ref PtEvent ev, in PtPacket p)
    {
        switch (p.Kind)
        {
            case PtPacketKind.ModeTsx:
                ev.Set(PtEventBits.Speculative, (p.Sub & PtPacket.TsxInTx) != 0);
                ev.Set(PtEventBits.Aborted, (p.Sub & PtPacket.TsxAbort) != 0);
                break;
            case PtPacketKind.Pip:
                ev.Payload = p.PipCr3;
                ev.Set(PtEventBits.NonRoot, p.PipNonRoot);
                break;
            case PtPacketKind.Vmcs or PtPacketKind.Mnt:
                ev.Payload = p.Payload;
                break;
            case PtPacketKind.Cbr:
                ev.Small = p.Sub;
                break;
        }
    }

    private int DecodePsbEnd()
    {
        int slot = _evq.Dequeue(PtEventBinding.PsbEnd);
        if (slot < 0) return 1;
        _event = slot;
        ref PtEvent ev = ref _evq[slot];
        switch (ev.Type)
        {
            case PtEventType.Enabled or PtEventType.ExecMode or PtEventType.Iflags or PtEventType.Tsx
                or PtEventType.AsyncPaging or PtEventType.AsyncVmcs:
                EventIp(ref ev, ref ev.Ip);
                break;
            case PtEventType.Disabled or PtEventType.Cbr or PtEventType.Mnt:
                break;
            default:
                return Fail(PtFlowError.BadContext);
        }
        EventTime(ref ev);
        return 0;
    }

    // ---- packets outside PSB+ ----

    private int DecodeStandalone(PtEventType type)
    {
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = type;
        FillFromPacket(ref ev, _packet);
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodeCbr()
    {
        int r = ApplyTime(_packet);
        if (r < 0) return r;
        return DecodeStandalone(PtEventType.Cbr);
    }

    private int DecodeModeExec()
    {
        byte bits = _packet.Sub;
        bool iflag = (bits & PtPacket.ExecIf) != 0, csd = (bits & PtPacket.ExecCsD) != 0, csl = (bits & PtPacket.ExecCsL) != 0;
        // MODE.Exec says two things, the execution mode and the interrupt flag: one event for each that changed.
        // When neither changed, a placeholder still binds the packet to its TIP.
        int events = 0;
        if (!_modeExecValid || _csl != csl || _csd != csd)
        {
            int slot = _evq.Enqueue(PtEventBinding.Tip | PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.ExecMode;
            _evq[slot].Small = (byte)ExecMode(bits);
            _csl = csl;
            _csd = csd;
            events++;
        }
        if (_config.EnableIflagsEvents && (!_modeExecValid || _iflag != iflag))
        {
            int slot = _evq.Enqueue(PtEventBinding.Tip | PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Iflags;
            _evq[slot].Set(PtEventBits.Iflag, iflag);
            _iflag = iflag;
            events++;
        }
        if (events == 0)
        {
            int slot = _evq.Enqueue(PtEventBinding.Tip | PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Ignore;
        }
        _modeExecValid = true;
        return 1;
    }

    private int DecodeModeTsx()
    {
        if (_enabled)
        {
            bool abort = (_packet.Sub & PtPacket.TsxAbort) != 0;
            int slot = _evq.Enqueue(abort ? PtEventBinding.Fup : PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Tsx;
            FillFromPacket(ref _evq[slot], _packet);
            return 1;
        }
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Tsx;
        FillFromPacket(ref ev, _packet);
        ev.IpSuppressed = true;
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodePip()
    {
        // A PIP between the FUP and TIP of an asynchronous branch binds to that TIP.
        if (_evq.Find(PtEventBinding.Tip, PtEventType.AsyncBranch) >= 0)
        {
            int slot = _evq.Enqueue(PtEventBinding.Tip);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.AsyncPaging;
            FillFromPacket(ref _evq[slot], _packet);
            return 1;
        }
        return DecodeStandalone(PtEventType.Paging);
    }

    private int DecodeVmcs()
    {
        // VMCS is ordered before a PIP of the same asynchronous branch: take the PIP's slot and queue the PIP again.
        int paging = _evq.Find(PtEventBinding.Tip, PtEventType.AsyncPaging);
        if (paging >= 0)
        {
            int again = _evq.Requeue(paging, PtEventBinding.Tip);
            if (again < 0) return Fail(PtFlowError.NoMemory);
            ref PtEvent ev = ref _evq[paging];
            ev = default;
            ev.Type = PtEventType.AsyncVmcs;
            ev.Payload = _packet.Payload;
            return 1;
        }
        if (_evq.Find(PtEventBinding.Tip, PtEventType.AsyncBranch) >= 0)
        {
            int slot = _evq.Enqueue(PtEventBinding.Tip);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.AsyncVmcs;
            _evq[slot].Payload = _packet.Payload;
            return 1;
        }
        return DecodeStandalone(PtEventType.Vmcs);
    }

    private int DecodeExstop()
    {
        bool ip = _packet.Flag0;
        int mwait = _evq.Dequeue(PtEventBinding.Exstop);
        if (mwait >= 0)
        {
            if (_evq[mwait].Type != PtEventType.Mwait) return Fail(PtFlowError.Internal);
            if (ip)
            {
                // Both MWAIT and EXSTOP bind to the FUP's IP: queue the MWAIT, the EXSTOP follows below.
                int slot = _evq.Requeue(mwait, PtEventBinding.FupBound);
                if (slot < 0) return Fail(PtFlowError.NoMemory);
            }
            else
            {
                // No IP: publish the MWAIT now and the EXSTOP on the next call (the packet stays current).
                ref PtEvent mw = ref _evq[mwait];
                mw.Ip = 0;
                mw.IpSuppressed = true;
                _event = mwait;
                EventTime(ref mw);
                return 0;
            }
        }
        if (ip)
        {
            int slot = _evq.Enqueue(PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Exstop;
            return 1;
        }
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Exstop;
        ev.IpSuppressed = true;
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodeMwait()
    {
        int slot = _evq.Enqueue(PtEventBinding.Exstop);
        if (slot < 0) return Fail(PtFlowError.NoMemory);
        ref PtEvent ev = ref _evq[slot];
        ev.Type = PtEventType.Mwait;
        ev.Payload = _packet.Payload;
        ev.Aux = _packet.Aux;
        return 1;
    }

    private int DecodePwre()
    {
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Pwre;
        ev.State = (byte)_packet.PwreState;
        ev.SubState = (byte)_packet.PwreSubState;
        ev.Set(PtEventBits.PwreHw, _packet.PwreHw);
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodePwrx()
    {
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Pwrx;
        ev.State = (byte)_packet.PwrxLast;
        ev.SubState = (byte)_packet.PwrxDeepest;
        ev.Set(PtEventBits.PwrxInterrupt, _packet.PwrxInterrupt);
        ev.Set(PtEventBits.PwrxStore, _packet.PwrxStore);
        ev.Set(PtEventBits.PwrxAutonomous, _packet.PwrxAutonomous);
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodePtw()
    {
        if (_packet.Flag0)
        {
            int slot = _evq.Enqueue(PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Ptwrite;
            _evq[slot].Small = (byte)_packet.PtwPayloadBytes;
            _evq[slot].Payload = _packet.Payload;
            return 1;
        }
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Ptwrite;
        ev.Small = (byte)_packet.PtwPayloadBytes;
        ev.Payload = _packet.Payload;
        ev.IpSuppressed = true;
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodeFup()
    {
        int r = UpdateIp(_packet);
        if (r < 0) return r;
        if (_evq.Pending(PtEventBinding.FupBound)) _bound = true;

        int slot = _evq.Dequeue(PtEventBinding.Fup | PtEventBinding.FupBound);
        if (slot < 0)
        {
            if (_bound) return 1;
            // An unbound FUP starts an asynchronous branch; its TIP gives the destination. It needs a source IP.
            if (!_ip.HasIp) return Fail(PtFlowError.NoIp);
            if (_ip.Suppressed) return Fail(PtFlowError.IpSuppressed);
            int ab = _evq.Enqueue(PtEventBinding.Tip);
            if (ab < 0) return Fail(PtFlowError.NoMemory);
            _evq[ab].Type = PtEventType.AsyncBranch;
            _evq[ab].From = _ip.Ip;
            return 1;
        }

        _event = slot;
        ref PtEvent ev = ref _evq[slot];
        switch (ev.Type)
        {
            case PtEventType.Overflow:
                // The time stays the OVF's: comparing it with the next event's shows how long the overflow lasted.
                EventIp(ref ev, ref ev.Ip);
                _enabled = true;
                break;
            case PtEventType.Rsm or PtEventType.Sipi:
                EventTime(ref ev);
                if (!ev.IpSuppressed) return Fail(PtFlowError.Internal);
                break;
            case PtEventType.Ignore:
                _event = -1;
                return DecodeFup();
            case PtEventType.Tsx or PtEventType.Exstop or PtEventType.Mwait or PtEventType.Ptwrite or PtEventType.ExecMode
                or PtEventType.Iflags or PtEventType.Interrupt or PtEventType.Iret or PtEventType.Smi or PtEventType.Init
                or PtEventType.Vmentry or PtEventType.Vmexit or PtEventType.Shutdown or PtEventType.Uintr
                or PtEventType.Uiret or PtEventType.Trig:
                EventTime(ref ev);
                EventIp(ref ev, ref ev.Ip);
                break;
            default:
                return Fail(PtFlowError.BadContext);
        }
        return 0;
    }

    private int DecodeTipEvent()
    {
        _bound = true;
        int async = _evq.Find(PtEventBinding.Tip, PtEventType.AsyncBranch);
        if (async >= 0)
        {
            int first = _evq.Dequeue(PtEventBinding.Tip);
            if (first < 0) return Fail(PtFlowError.Internal);
            // The async branch goes first; swap it with whatever was queued before it.
            if (first != async) (_evq[async], _evq[first]) = (_evq[first], _evq[async]);
            ref PtEvent ev = ref _evq[first];
            if (ev.Type != PtEventType.AsyncBranch) return Fail(PtFlowError.Internal);
            _event = first;
            EventIp(ref ev, ref ev.Ip);
            EventTime(ref ev);
            return 0;
        }
        _event = _evq.TakeStandalone();
        ref PtEvent tip = ref _evq[_event];
        tip.Type = PtEventType.Tip;
        EventIp(ref tip, ref tip.Ip);
        EventTime(ref tip);
        return 0;
    }

    private int DecodeTip()
    {
        if (!_enabled) return Fail(PtFlowError.BadContext);
        int r = UpdateIp(_packet);
        if (r < 0) return r;
        // The branch event goes first: other events bind to the branch target, not to the branch.
        if (!_bound) return DecodeTipEvent();

        int slot = _evq.Dequeue(PtEventBinding.Tip);
        if (slot < 0) return 1;
        _event = slot;
        ref PtEvent ev = ref _evq[slot];
        switch (ev.Type)
        {
            case PtEventType.AsyncBranch: return Fail(PtFlowError.Internal);
            case PtEventType.ExecMode or PtEventType.AsyncPaging or PtEventType.AsyncVmcs or PtEventType.Iflags:
                EventIp(ref ev, ref ev.Ip);
                break;
            case PtEventType.Ignore:
                _event = -1;
                return DecodeTip();
            default:
                return Fail(PtFlowError.BadContext);
        }
        EventTime(ref ev);
        return 0;
    }

    private int DecodeTipPge()
    {
        int r = UpdateIp(_packet);
        if (r < 0) return r;
        // The enable goes first, then the events that bind to the enable IP (MODE.Exec ...).
        if (!_bound)
        {
            _event = _evq.TakeStandalone();
            ref PtEvent en = ref _evq[_event];
            en.Type = PtEventType.Enabled;
            EventIp(ref en, ref en.Ip);
            _enabled = true;
            _bound = true;
            EventTime(ref en);
            return 0;
        }
        int slot = _evq.Dequeue(PtEventBinding.Tip);
        if (slot < 0) return 1;
        _event = slot;
        ref PtEvent ev = ref _evq[slot];
        switch (ev.Type)
        {
            case PtEventType.ExecMode or PtEventType.Iflags:
                EventIp(ref ev, ref ev.Ip);
                break;
            case PtEventType.Ignore:
                _event = -1;
                return DecodeTipPge();
            default:
                return Fail(PtFlowError.BadContext);
        }
        EventTime(ref ev);
        return 0;
    }

    private int DecodeTipPgd()
    {
        int r = UpdateIp(_packet);
        if (r < 0) return r;
        int slot = _evq.Dequeue(PtEventBinding.Tip);
        if (slot < 0)
        {
            if (_bound) return 1;
            _event = _evq.TakeStandalone();
            ref PtEvent dis = ref _evq[_event];
            dis.Type = PtEventType.Disabled;
            EventIp(ref dis, ref dis.Ip);
            EventTime(ref dis);
            _enabled = false;
            return FetchPacket();
        }
        _event = slot;
        ref PtEvent ev = ref _evq[slot];
        switch (ev.Type)
        {
            case PtEventType.AsyncBranch:
                // FUP + TIP.PGD: an asynchronous disable at the FUP's IP.
                ev.Type = PtEventType.AsyncDisabled;
                EventIp(ref ev, ref ev.Ip);
                _enabled = false;
                _bound = true;
                break;
            case PtEventType.AsyncPaging or PtEventType.AsyncVmcs:
                if (!_bound) return Fail(PtFlowError.Internal);
                ev.IpSuppressed = true;
                break;
            case PtEventType.ExecMode:
                // Tracing is off once these apply, so their IP means nothing.
                ev.IpSuppressed = true;
                break;
            default:
                return Fail(PtFlowError.BadContext);
        }
        EventTime(ref ev);
        return 0;
    }

    private int DecodeTnt()
    {
        if (!_enabled) return Fail(PtFlowError.BadContext);
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Tnt;
        ev.Payload = _packet.Payload;
        ev.Small = _packet.Sub;
        EventTime(ref ev);
        return FetchPacket();
    }

    private int DecodeStop()
    {
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Stop;
        EventTime(ref ev);
        return FetchPacket();
    }

    // ---- OVF ----

    private int DecodeOvf()
    {
        // An OVF ends a PSB+ like PSBEND: publish its pending events first.
        int r = DecodePsbEnd();
        if (r <= 0) return r;

        // Reset everything but time (and, on request, the calibration).
        PtTimeTracker time = _time;
        Reset();
        _status = PtFlowError.Ok;
        _packetValid = true;
        _packetSize = _packet.Size;
        _time = time;
        if (!_config.KeepTcalOnOverflow) _time.OnOvf();

        // The OVF binds to a FUP if the overflow resolved with tracing enabled (only timing packets in between),
        // else to a later TIP.PGE; any other packet first means tracing was off: a standalone overflow event.
        int offset = FindOvfFup();
        if (offset <= 0)
        {
            if (_config.Errata.Skd010)
            {
                r = HandleSkd010();
                if (r <= 0) return r;
            }
            if (_config.Errata.Apl11 && offset == Fail(PtFlowError.BadContext))
            {
                r = HandleApl11();
                if (r <= 0) return r;
            }
            // An overflow at the end of the trace is standalone.
            if (offset < 0 && offset != Fail(PtFlowError.EndOfStream)) return offset;
            _event = _evq.TakeStandalone();
            ref PtEvent ev = ref _evq[_event];
            ev.Type = PtEventType.Overflow;
            ev.IpSuppressed = true;
            EventTime(ref ev);
            return FetchPacket();
        }
        if (_config.Errata.Apl12)
        {
            r = HandleApl12(offset);
            if (r <= 0) return r;
        }
        int slot = _evq.Enqueue(PtEventBinding.FupBound);
        if (slot < 0) return Fail(PtFlowError.NoMemory);
        _evq[slot].Type = PtEventType.Overflow;
        EventTime(ref _evq[slot]);
        return 1;
    }

    /// <summary>Bytes from the current position to just after a FUP that follows an OVF; 0 if another packet comes first.</summary>
    private readonly int FindOvfFup()
    {
        PtPacketDecoder d = _pkt;
        int offset = 0;
        while (true)
        {
            PtFlowError e = NextPacket(ref d, out PtPacket p);
            if (e != PtFlowError.Ok) return Fail(e);
            offset += p.Size;
            switch (p.Kind)
            {
                case PtPacketKind.Fup: return offset;
                case PtPacketKind.Pad or PtPacketKind.Mnt or PtPacketKind.Cbr or PtPacketKind.Tsc or PtPacketKind.Tma
                    or PtPacketKind.Mtc or PtPacketKind.Cyc:
                    break;
                case PtPacketKind.PsbEnd or PtPacketKind.Tip or PtPacketKind.TipPgd or PtPacketKind.Tnt8 or PtPacketKind.Tnt64:
                    return Fail(PtFlowError.BadContext);
                default:
                    return 0;
            }
        }
    }

    /// <summary>Whether the PSB+ the decoder is inside has a FUP: 1 (in <paramref name="fup"/>), 0, or an error.</summary>
    private static int FindHeaderFup(PtPacketDecoder d, out PtPacket fup)
    {
        while (true)
        {
            PtFlowError e = NextPacket(ref d, out fup);
            if (e != PtFlowError.Ok) return Fail(e);
            switch (fup.Kind)
            {
                case PtPacketKind.Fup: return 1;
                case PtPacketKind.ModeExec or PtPacketKind.ModeTsx or PtPacketKind.Pip or PtPacketKind.Vmcs
                    or PtPacketKind.Mnt or PtPacketKind.Tsc or PtPacketKind.Cbr or PtPacketKind.Tma or PtPacketKind.Mtc
                    or PtPacketKind.Cyc or PtPacketKind.Pad:
                    break;
                case PtPacketKind.PsbEnd or PtPacketKind.Ovf: return 0;
                default: return Fail(PtFlowError.BadContext);
            }
        }
    }

    private int RecoverOvfAtIp(in PtPacketDecoder d, in PtPacket packet, in PtPacket ipPacket, in PtTimeTracker time)
    {
        int r = UpdateIp(ipPacket);
        if (r < 0) return r;
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Overflow;
        EventTime(ref ev);
        _pkt = d;
        _packet = packet;
        _packetValid = true;
        _packetSize = packet.Size;
        _time = time;
        _enabled = true;
        EventIp(ref ev, ref ev.Ip);
        return 0;
    }

    private int RecoverOvfDisabled(in PtPacketDecoder d, in PtPacket packet, in PtTimeTracker time)
    {
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Overflow;
        ev.IpSuppressed = true;
        EventTime(ref ev);
        _pkt = d;
        _packet = packet;
        _packetValid = true;
        _packetSize = packet.Size;
        _time = time;
        return 0;
    }

    private int RecoverOvfAtOffset(int offset)
    {
        while (true)
        {
            PtFlowError e = NextPacket(ref _pkt, out _packet);
            if (e != PtFlowError.Ok) return Fail(e);
            _packetValid = true;
            _packetSize = _packet.Size;
            if (offset <= _packet.Size)
            {
                if (offset < _packet.Size) return Fail(PtFlowError.Internal);
                break;
            }
            offset -= _packet.Size;
            switch (_packet.Kind)
            {
                case PtPacketKind.Tsc or PtPacketKind.Cbr or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Cyc:
                    int r = ApplyTime(_packet);
                    if (r < 0) return r;
                    break;
                case PtPacketKind.ModeExec or PtPacketKind.ModeTsx or PtPacketKind.Pip or PtPacketKind.Vmcs:
                    return Fail(PtFlowError.Internal);
            }
        }
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Overflow;
        ev.IpSuppressed = true;
        EventTime(ref ev);
        return FetchPacket();
    }

    /// <summary>Applies a timing packet to a look-ahead copy of the time.</summary>
    private static int ApplyTimeTo(ref PtTimeTracker time, in PtPacket p)
    {
        string? error = p.Kind switch
        {
            PtPacketKind.Tsc => time.OnTsc(p.Payload),
            PtPacketKind.Cbr => time.OnCbr(p.Sub),
            PtPacketKind.Tma => time.OnTma((ushort)p.Payload, (ushort)p.Aux),
            PtPacketKind.Mtc => time.OnMtc((byte)p.Payload),
            PtPacketKind.Cyc => time.OnCyc(p.Payload),
            _ => null,
        };
        PtFlowError e = TimeError(error);
        return e == PtFlowError.Ok ? 0 : Fail(e);
    }

    /// <summary>
    /// SKD010: after an OVF without FUP, the FUP may have been dropped although tracing resumed enabled. Look ahead
    /// for proof either way; when tracing is on, resume at a later IP. 1 = not handled, 0 = overflow event made.
    /// </summary>
    private int HandleSkd010()
    {
        PtPacketDecoder d = _pkt;
        PtTimeTracker time = _time;
        bool tsxFound = false;
        PtPacket tsx = default;
        while (true)
        {
            PtFlowError e = NextPacket(ref d, out PtPacket p);
            if (e != PtFlowError.Ok) return e == PtFlowError.EndOfStream ? 1 : Fail(e);
            int r;
            switch (p.Kind)
            {
                case PtPacketKind.TipPge: return 1;
                case PtPacketKind.TipPgd:
                    r = RecoverOvfDisabled(d, p, time);
                    if (r < 0) return r;
                    return FetchPacket();
                case PtPacketKind.Tnt8 or PtPacketKind.Tnt64: return 1;
                case PtPacketKind.Pip or PtPacketKind.Vmcs or PtPacketKind.ModeExec: break;
                case PtPacketKind.ModeTsx:
                    if (tsxFound) return 1;
                    tsxFound = true;
                    tsx = p;
                    break;
                case PtPacketKind.Fup:
                    _packet = p;
                    if (tsxFound)
                    {
                        int slot = _evq.Enqueue(PtEventBinding.FupBound);
                        if (slot < 0) return Fail(PtFlowError.NoMemory);
                        _evq[slot].Type = PtEventType.Tsx;
                        FillFromPacket(ref _evq[slot], tsx);
                    }
                    return RecoverOvfAtIp(d, p, p, time);
                case PtPacketKind.Tip:
                    r = RecoverOvfAtIp(d, p, p, time);
                    if (r < 0) return r;
                    return FetchPacket();
                case PtPacketKind.Psb:
                {
                    r = FindHeaderFup(d, out PtPacket fup);
                    if (r < 0) return r == Fail(PtFlowError.EndOfStream) ? 1 : r;
                    if (r == 0) return 1;
                    return RecoverOvfAtIp(d, p, fup, time);
                }
                case PtPacketKind.PsbEnd: return Fail(PtFlowError.BadContext);
                case PtPacketKind.Ovf or PtPacketKind.Stop: return 1;
                case PtPacketKind.Pad or PtPacketKind.Mnt or PtPacketKind.Pwre or PtPacketKind.Pwrx or PtPacketKind.Evd
                    or PtPacketKind.Trig:
                    break;
                case PtPacketKind.Exstop or PtPacketKind.Ptw or PtPacketKind.Cfe:
                    if (!p.Flag0) break;
                    return 1;
                case PtPacketKind.Mwait: return 1;
                case PtPacketKind.Tsc or PtPacketKind.Cbr or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Cyc:
                    r = ApplyTimeTo(ref time, p);
                    if (r < 0) return r;
                    break;
                default: return 1;
            }
        }
    }

    /// <summary>APL11: an extra TIP.PGD after an OVF; resume after it with tracing disabled.</summary>
    private int HandleApl11()
    {
        PtPacketDecoder d = _pkt;
        PtTimeTracker time = _time;
        while (true)
        {
            PtFlowError e = NextPacket(ref d, out PtPacket p);
            if (e != PtFlowError.Ok) return Fail(e);
            switch (p.Kind)
            {
                case PtPacketKind.TipPgd:
                    RecoverOvfDisabled(d, p, time);
                    return FetchPacket();
                case PtPacketKind.Tsc or PtPacketKind.Cbr or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Cyc:
                    int r = ApplyTimeTo(ref time, p);
                    if (r < 0) return r;
                    break;
                case PtPacketKind.Pad or PtPacketKind.Mnt or PtPacketKind.Cfe or PtPacketKind.Evd or PtPacketKind.Trig:
                    break;
                default:
                    return 1;
            }
        }
    }

    /// <summary>APL12: a FUP after OVF although the overflow resolved with tracing disabled.</summary>
    private int HandleApl12(int offset)
    {
        PtPacketDecoder d = _pkt;
        // Skip to just after the FUP.
        for (int skipped = 0; skipped < offset;)
        {
            PtFlowError e0 = NextPacket(ref d, out PtPacket q);
            if (e0 != PtFlowError.Ok) return Fail(PtFlowError.Internal);
            skipped += q.Size;
        }
        while (true)
        {
            PtFlowError e = NextPacket(ref d, out PtPacket p);
            if (e != PtFlowError.Ok) return e == PtFlowError.EndOfStream ? 1 : Fail(e);
            switch (p.Kind)
            {
                case PtPacketKind.Tnt8 or PtPacketKind.Tnt64 or PtPacketKind.Tip or PtPacketKind.TipPgd: return 1;
                case PtPacketKind.Psb:
                {
                    int r = FindHeaderFup(d, out _);
                    if (r != 0) return r == Fail(PtFlowError.EndOfStream) ? 1 : r;
                    return RecoverOvfAtOffset(offset);
                }
                case PtPacketKind.Stop or PtPacketKind.TipPge: return RecoverOvfAtOffset(offset);
                case PtPacketKind.PsbEnd or PtPacketKind.Ovf: return 1;
                default: break;
            }
        }
    }

    // ---- Event Tracing (CFE, EVD) and TRIG ----

    private int DecodeCfe()
    {
        int ev = _evq.Dequeue(PtEventBinding.Cfe);
        byte type = _packet.Sub;
        bool ip = _packet.Flag0;
        byte vector = (byte)_packet.Aux;
        switch (type)
        {
            case 1: // interrupt
                if (ev < 0)
                {
                    ev = _evq.TakeStandalone();
                    _evq[ev].Type = PtEventType.Interrupt;
                }
                if (_evq[ev].Type != PtEventType.Interrupt) return Fail(PtFlowError.BadContext);
                _evq[ev].Small = vector;
                return CfeBind(ev, ip, boundWhenEnabled: true);
            case 8 or 9: // vmexit, vmexit_intr
                if (ev < 0)
                {
                    ev = _evq.TakeStandalone();
                    _evq[ev].Type = PtEventType.Vmexit;
                }
                if (_evq[ev].Type != PtEventType.Vmexit) return Fail(PtFlowError.BadContext);
                if (type == 9)
                {
                    _evq[ev].Set(PtEventBits.HasVector, true);
                    _evq[ev].Small = vector;
                }
                return CfeBind(ev, ip, boundWhenEnabled: true);
            case 2: return CfeSimple(ev, PtEventType.Iret, ip, fupWhenEnabled: false, 0);
            case 3: return CfeSimple(ev, PtEventType.Smi, ip, fupWhenEnabled: true, 0);
            case 4: // rsm
            case 5: // sipi
            {
                if (ev >= 0) return Fail(PtFlowError.BadContext);
                if (ip) return Fail(PtFlowError.BadPacket);
                PtEventType t = type == 4 ? PtEventType.Rsm : PtEventType.Sipi;
                if (_enabled)
                {
                    int slot = _evq.Enqueue(PtEventBinding.Fup);
                    if (slot < 0) return Fail(PtFlowError.NoMemory);
                    _evq[slot].Type = t;
                    _evq[slot].IpSuppressed = true;
                    if (t == PtEventType.Sipi) _evq[slot].Small = vector;
                    return 1;
                }
                _event = _evq.TakeStandalone();
                ref PtEvent e = ref _evq[_event];
                e.Type = t;
                e.IpSuppressed = true;
                if (t == PtEventType.Sipi) e.Small = vector;
                EventTime(ref e);
                return FetchPacket();
            }
            case 6: return CfeSimple(ev, PtEventType.Init, ip, fupWhenEnabled: true, 0);
            case 7: return CfeSimple(ev, PtEventType.Vmentry, ip, fupWhenEnabled: false, 0);
            case 10: return CfeSimple(ev, PtEventType.Shutdown, ip, fupWhenEnabled: false, 0);
            case 12: return CfeSimple(ev, PtEventType.Uintr, ip, fupWhenEnabled: true, vector);
            case 13: return CfeSimple(ev, PtEventType.Uiret, ip, fupWhenEnabled: false, 0);
        }
        // Unknown CFE types are ignored (they only add detail); one with an IP still consumes its FUP.
        if (ev >= 0) return Fail(PtFlowError.Internal);
        if (ip)
        {
            int slot = _evq.Enqueue(PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Ignore;
        }
        return 1;
    }

    private int CfeBind(int ev, bool ip, bool boundWhenEnabled)
    {
        if (ip)
        {
            return _evq.Requeue(ev, PtEventBinding.FupBound) < 0 ? Fail(PtFlowError.NoMemory) : 1;
        }
        if (boundWhenEnabled && _enabled)
        {
            return _evq.Requeue(ev, PtEventBinding.Fup) < 0 ? Fail(PtFlowError.NoMemory) : 1;
        }
        ref PtEvent e = ref _evq[ev];
        EventTime(ref e);
        e.IpSuppressed = true;
        _event = ev;
        return FetchPacket();
    }

    private int CfeSimple(int queued, PtEventType type, bool ip, bool fupWhenEnabled, byte vector)
    {
        if (queued >= 0) return Fail(PtFlowError.BadContext);
        if (ip || (fupWhenEnabled && _enabled))
        {
            int slot = _evq.Enqueue(ip ? PtEventBinding.FupBound : PtEventBinding.Fup);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = type;
            _evq[slot].Small = vector;
            return 1;
        }
        _event = _evq.TakeStandalone();
        ref PtEvent e = ref _evq[_event];
        e.Type = type;
        e.Small = vector;
        e.IpSuppressed = true;
        EventTime(ref e);
        return FetchPacket();
    }

    private int DecodeEvd()
    {
        int ev = _evq.Peek(PtEventBinding.Cfe);
        switch (_packet.Sub)
        {
            case 0: // cr2
                if (ev >= 0) return Fail(PtFlowError.BadContext);
                ev = _evq.Enqueue(PtEventBinding.Cfe);
                if (ev < 0) return Fail(PtFlowError.NoMemory);
                _evq[ev].Type = PtEventType.Interrupt;
                _evq[ev].Set(PtEventBits.HasCr2, true);
                _evq[ev].Payload = _packet.Payload;
                return 1;
            case 1 or 2: // vmxq, vmxr
            {
                if (ev < 0)
                {
                    ev = _evq.Enqueue(PtEventBinding.Cfe);
                    if (ev < 0) return Fail(PtFlowError.NoMemory);
                    _evq[ev].Type = PtEventType.Vmexit;
                }
                ref PtEvent e = ref _evq[ev];
                if (e.Type != PtEventType.Vmexit) return Fail(PtFlowError.BadContext);
                PtEventBits bit = _packet.Sub == 1 ? PtEventBits.HasVmxq : PtEventBits.HasVmxr;
                if (e.Has(bit)) return Fail(PtFlowError.BadContext);
                e.Set(bit, true);
                if (_packet.Sub == 1) e.Payload = _packet.Payload;
                else e.Payload2 = _packet.Payload;
                return 1;
            }
        }
        return 1;
    }

    private int DecodeTrig()
    {
        byte flags = _packet.Flags;
        bool ip = (flags & PtPacket.TrigIp) != 0, icntv = (flags & PtPacket.TrigIcntValid) != 0;
        bool mult = (flags & PtPacket.TrigMult) != 0;
        ushort icnt = (ushort)_packet.Aux;
        if (ip)
        {
            if (!icntv || icnt != 0) return Fail(PtFlowError.BadPacket);
            int slot = _evq.Enqueue(PtEventBinding.FupBound);
            if (slot < 0) return Fail(PtFlowError.NoMemory);
            _evq[slot].Type = PtEventType.Trig;
            _evq[slot].Small = _packet.Sub;
            _evq[slot].Set(PtEventBits.Mult, mult);
            return 1;
        }
        _event = _evq.TakeStandalone();
        ref PtEvent ev = ref _evq[_event];
        ev.Type = PtEventType.Trig;
        ev.Small = _packet.Sub;
        ev.Set(PtEventBits.Mult, mult);
        if (icntv)
        {
            if (icnt != 0 && !_enabled) return Fail(PtFlowError.BadPacket);
            ev.Icnt = icnt;
        }
        else
        {
            ev.IpSuppressed = true;
        }
        EventTime(ref ev);
        return FetchPacket();
    }

    // ---- dispatch ----

    private int DecodePacket()
    {
        if (!_packetValid) return _status != PtFlowError.Ok ? Fail(_status) : 1;
        switch (_packet.Kind)
        {
            case PtPacketKind.Tnt8 or PtPacketKind.Tnt64: return DecodeTnt();
            case PtPacketKind.Tip: return DecodeTip();
            case PtPacketKind.Fup: return DecodeFup();
            case PtPacketKind.TipPge: return DecodeTipPge();
            case PtPacketKind.TipPgd: return DecodeTipPgd();
            case PtPacketKind.Pad: return 1;
            case PtPacketKind.Tsc or PtPacketKind.Tma or PtPacketKind.Mtc or PtPacketKind.Cyc:
            {
                int r = ApplyTime(_packet);
                return r < 0 ? r : 1;
            }
            case PtPacketKind.Cbr: return DecodeCbr();
            case PtPacketKind.ModeExec: return DecodeModeExec();
            case PtPacketKind.ModeTsx: return DecodeModeTsx();
            case PtPacketKind.Pip: return DecodePip();
            case PtPacketKind.Ptw: return DecodePtw();
            case PtPacketKind.Psb:
            {
                int r = DecodePsb();
                if (r <= 0) return r;
                return DecodePacket();
            }
            case PtPacketKind.PsbEnd: return DecodePsbEnd();
            case PtPacketKind.Exstop: return DecodeExstop();
            case PtPacketKind.Pwre: return DecodePwre();
            case PtPacketKind.Pwrx: return DecodePwrx();
            case PtPacketKind.Mwait: return DecodeMwait();
            case PtPacketKind.Vmcs: return DecodeVmcs();
            case PtPacketKind.Ovf: return DecodeOvf();
            case PtPacketKind.Stop: return DecodeStop();
            case PtPacketKind.Mnt: return DecodeStandalone(PtEventType.Mnt);
            case PtPacketKind.Cfe: return DecodeCfe();
            case PtPacketKind.Evd: return DecodeEvd();
            case PtPacketKind.Trig: return DecodeTrig();
            default: return Fail(PtFlowError.BadOpcode);
        }
    }

    /// <summary>Decodes packets until one produces an event (0) or an error (negative).</summary>
    private int FetchEvent()
    {
        while (true)
        {
            int r = DecodePacket();
            if (r <= 0) return r;
            if (_event >= 0) return Fail(PtFlowError.Internal);
            // The packet needed a successor without producing an event: that successor is not bound.
            _bound = false;
            FetchPacket();
        }
    }
}
