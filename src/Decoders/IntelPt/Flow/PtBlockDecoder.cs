using System.Runtime.CompilerServices;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// The block decoder: walks the code in a <see cref="PtImage"/> from the current IP, follows conditional branches by
/// TNT bits and indirect branches by TIP targets, keeps the return-compression stack, and applies the events of the
/// trace where they bind. It reproduces the instruction flow libipt's block decoder (pt_blk_*) reports, including
/// where errors happen, but in blocks of straight-line code decoded once per section and replayed from a cache.
/// <para>
/// Usage, as ptxed does: <see cref="SyncForward"/>; then repeatedly drain events while the status says
/// <see cref="PtFlowStatus.EventPending"/> (<see cref="Event"/>), stop on <see cref="PtFlowStatus.EndOfStream"/>, else
/// take the next block (<see cref="Next"/>). After an error, <see cref="SyncForward"/> resumes at the next PSB.
/// Methods return a non-negative <see cref="PtFlowStatus"/> as an int, or a negative <see cref="PtFlowError"/>
/// (use <see cref="IsError"/> / <see cref="ErrorOf"/>), the way libipt does, so the hot path stays branch-light.
/// </para>
/// </summary>
public ref struct PtBlockDecoder
{
    private PtEventDecoder _evdec;
    private readonly PtImage _image;
    // Made on the first cache miss: a warm decode (the live decoder makes one per window) never needs its Iced decoders.
    private PtRunBuilder? _builder;
    private PtEvent _event;
    private PtFlowError _status;
    private ulong _ip;
    private PtExecMode _mode;
    private bool _enabled, _speculative;
    // An instruction whose events are being applied before we proceed past it.
    private bool _processInsn, _boundPaging, _boundVmcs, _boundPtwrite, _boundIret, _boundVmentry, _boundUiret;
    private PtInsn _insn;
    private ulong _tsc;
    private bool _hasTsc;
    private uint _lostMtc, _lostCyc;
    private byte _cbr;
    private bool _hasIcnt;
    private uint _icnt;
    private ulong _cr3, _vmcs;
    private PtRetStack _retstack;
    // The section and cache of the last run, tried first on the next lookup.
    private PtSection? _lastSection;
    private int _imageVersion;

    public PtBlockDecoder(ReadOnlySpan<byte> trace, PtImage image, PtFlowConfig config)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(config);
        _evdec = new PtEventDecoder(trace, config);
        _image = image;
        Reset();
    }

    public static bool IsError(int status) => status < 0;
    public static PtFlowError ErrorOf(int status) => status < 0 ? (PtFlowError)(-status) : PtFlowError.Ok;
    public static PtFlowStatus StatusOf(int status) => status < 0 ? PtFlowStatus.None : (PtFlowStatus)status;

    /// <summary>Trace offset of the packet being decoded: the offset to report with an error.</summary>
    public readonly long Offset => _evdec.Offset;
    public readonly long SyncOffset => _evdec.SyncOffset;
    public readonly ulong Ip => _ip;
    public readonly bool TracingEnabled => _enabled;
    public readonly PtExecMode Mode => _mode;
    public readonly PtImage Image => _image;
    /// <summary>The time of the last event (TSC units), when the trace has timing.</summary>
    public readonly bool TryGetTime(out ulong tsc)
    {
        tsc = _tsc;
        return _hasTsc;
    }
    public readonly int CoreBusRatio => _cbr;
    public readonly ulong Cr3 => _cr3;

    private static int Fail(PtFlowError e) => -(int)e;

    private void Reset()
    {
        _tsc = 0;
        _hasTsc = false;
        _lostMtc = _lostCyc = 0;
        _cbr = 0;
        _icnt = 0;
        _mode = PtExecMode.Unknown;
        _ip = 0;
        _status = PtFlowError.NoSync;
        _enabled = _speculative = _hasIcnt = false;
        ClearPostponedInsn();
        _event = PtEvent.Invalid;
        _retstack.Clear();
        _cr3 = PtImage.NoCr3;
        _vmcs = 0;
    }

    // ---- sync ----

    /// <summary>Synchronises at the next PSB. Returns status flags, or an error (EndOfStream: no PSB left).</summary>
    public int SyncForward()
    {
        Reset();
        PtFlowError e = _evdec.SyncForward();
        if (e != PtFlowError.Ok) return Fail(e);
        return Start();
    }

    private int Start()
    {
        // The PSB+ status updates initialise our state, but the user must see them too: read them on a copy.
        PtEventDecoder copy = _evdec;
        while (true)
        {
            // Only the events of this header: stop once the copy moves past it.
            if (copy.PacketPosition != _evdec.PacketPosition) break;
            PtFlowError e = copy.Next(out PtEvent ev);
            if (e != PtFlowError.Ok)
            {
                if (e != PtFlowError.EndOfStream) return Fail(e);
                break;
            }
            if (!ev.StatusUpdate) break;
            if (ev.Type == PtEventType.Enabled)
            {
                _enabled = true;
                _ip = ev.Ip;
                break;
            }
        }
        _status = _evdec.Next(out _event);
        return ProceedTrailingEvent();
    }

    // ---- events ----

    private int FetchEvent()
    {
        _tsc = _event.Tsc;
        _hasTsc = _event.HasTsc;
        _lostMtc = _event.LostMtc;
        _lostCyc = _event.LostCyc;
        if (_event.Type is PtEventType.Tnt or PtEventType.Tip && !_event.IpSuppressed)
        {
            // Branch trace is a TRIG anchor (the common case, kept inline).
            _hasIcnt = true;
            _icnt = 0;
        }
        else
        {
            int r = FindTrigAnchor();
            if (r < 0) return r;
        }
        if (_evdec.TryNextBranch(ref _event)) return 0;
        _status = _evdec.Next(out _event);
        return 0;
    }

    /// <summary>Events that give a TRIG anchor IP start counting instructions from there.</summary>
    private int FindTrigAnchor()
    {
        switch (_event.Type)
        {
            case PtEventType.ExecMode or PtEventType.Tsx or PtEventType.AsyncPaging or PtEventType.AsyncVmcs or PtEventType.Exstop
                or PtEventType.Ptwrite or PtEventType.Tick or PtEventType.Iflags or PtEventType.Interrupt or PtEventType.Iret
                or PtEventType.Smi or PtEventType.Rsm or PtEventType.Init or PtEventType.Vmentry or PtEventType.Vmexit
                or PtEventType.Shutdown or PtEventType.Uintr or PtEventType.Uiret or PtEventType.Trig:
                if (!_event.IpSuppressed) SetTrigAnchor();
                return 0;
            case PtEventType.Enabled or PtEventType.AsyncBranch or PtEventType.Tip or PtEventType.Tnt:
                if (_event.IpSuppressed) return Fail(PtFlowError.Internal);
                SetTrigAnchor();
                return 0;
            case PtEventType.Disabled or PtEventType.AsyncDisabled:
                _hasIcnt = false;
                _icnt = 0;
                return 0;
            case PtEventType.Overflow:
                if (_event.IpSuppressed)
                {
                    _hasIcnt = false;
                    _icnt = 0;
                }
                else SetTrigAnchor();
                return 0;
            default:
                return 0;
        }
    }

    private void SetTrigAnchor()
    {
        _hasIcnt = true;
        _icnt = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly int Status(PtFlowStatus flags)
    {
        if (!_enabled) flags |= PtFlowStatus.IpSuppressed;
        if (_status == PtFlowError.EndOfStream) flags |= PtFlowStatus.EndOfStream;
        return (int)flags;
    }

    // ---- trace queries ----

    /// <summary>Takes the next TNT bit: 1 taken, 0 not taken, or BadQuery when no TNT is current.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CondBranch()
    {
        if (_event.Type != PtEventType.Tnt) return Fail(PtFlowError.BadQuery);
        int size = _event.Small;
        if (size == 0) return Fail(PtFlowError.Internal);
        size--;
        _event.Small = (byte)size;
        // The next event is fetched once the bits are used up, by the trailing-event step.
        return (int)(_event.Payload >> size) & 1;
    }

    /// <summary>An indirect branch: the TIP gives the target.</summary>
    private int ProceedIndirect()
    {
        switch (_event.Type)
        {
            case PtEventType.Tip:
                if (_event.IpSuppressed) return Fail(PtFlowError.BadPacket);
                _ip = _event.Ip;
                return FetchEvent();
            case PtEventType.Tnt:
            {
                // A deferred TIP may follow a TNT that is still in use: read ahead for it and keep the TNT current.
                PtEventDecoder backup = _evdec;
                PtEvent tnt = _event;
                PtFlowError e = _evdec.Next(out PtEvent tip);
                if (e != PtFlowError.Ok || tip.Type != PtEventType.Tip)
                {
                    _evdec = backup;
                    return Fail(PtFlowError.BadQuery);
                }
                _ip = tip.Ip;
                _event = tnt;
                return 0;
            }
            default:
                return Fail(PtFlowError.BadQuery);
        }
    }

    /// <summary>Past an instruction that needs trace: libipt's pt_blk_proceed_with_trace.</summary>
    private int ProceedWithTrace(in PtInsn insn)
    {
        switch (insn.Class)
        {
            case PtInsnClass.CondJump:
            {
                int taken = CondBranch();
                if (taken < 0) return taken;
                _ip = taken != 0 ? insn.Target : insn.NextIp;
                return 0;
            }
            case PtInsnClass.Return:
            {
                // A compressed return is a taken TNT bit; without a TNT the return has a TIP.
                int taken = CondBranch();
                if (taken <= 0)
                {
                    if (taken == Fail(PtFlowError.BadQuery)) break;
                    return taken == 0 ? Fail(PtFlowError.BadRetComp) : taken;
                }
                return _retstack.TryPop(out _ip) ? 0 : Fail(PtFlowError.RetStackEmpty);
            }
            case PtInsnClass.Jump when insn.Ext == PtInsnExt.Jmpabs:
                break;
            case PtInsnClass.Jump or PtInsnClass.Call:
                if (insn.IsDirect) return Fail(PtFlowError.Internal);
                break;
            case PtInsnClass.FarCall or PtInsnClass.FarReturn or PtInsnClass.FarJump or PtInsnClass.Indirect:
                break;
            case PtInsnClass.Ptwrite or PtInsnClass.Other:
                return Fail(PtFlowError.Internal);
            default:
                return Fail(PtFlowError.BadInstruction);
        }
        return ProceedIndirect();
    }

    /// <summary>A near call pushes its return address (a call to the next instruction, used for PIC, does not).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LogCall(in PtInsn insn)
    {
        if (insn.Class != PtInsnClass.Call) return;
        if (insn.IsDirect && insn.Target == insn.NextIp) return;
        _retstack.Push(insn.NextIp);
    }

    // ---- code ----

    /// <summary>The cached run that starts at <paramref name="ip"/>, decoding it on first use.</summary>
    private int GetRun(ulong ip, out PtBlockCache? cache)
    {
        cache = null;
        if (_imageVersion != _image.Version)
        {
            _imageVersion = _image.Version;
            _lastSection = null;
        }
        PtSection? section = _lastSection;
        if (section == null || !section.Contains(ip) || (section.Cr3 != null && section.Cr3 != _cr3))
        {
            section = _image.Find(ip, _cr3);
            if (section == null) return Fail(PtFlowError.NoMap);
            _lastSection = section;
        }
        if (_mode == PtExecMode.Unknown) return Fail(PtFlowError.BadInstruction);
        cache = section.Cache;
        int idx = cache.Lookup(ip, _mode);
        if (idx >= 0) return idx;
        PtFlowError e = (_builder ??= new PtRunBuilder()).Build(_image, section, ip, _mode, _cr3, out idx);
        return e == PtFlowError.Ok ? idx : Fail(e);
    }

    /// <summary>Makes the first <paramref name="count"/> instructions of a run the block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly void SetBlock(ref PtBlock block, PtBlockCache cache, int idx, ulong ip, PtExecMode mode, int count)
    {
        block.Ip = ip;
        block.InstructionCount = count;
        block.Mode = mode;
        block.Speculative = _speculative;
        block.Cache = cache;
        block.Run = idx;
    }

    private void CountInstructions(int n)
    {
        if (_hasIcnt) _icnt += (uint)n;
    }

    /// <summary>
    /// Proceeds without trace until <paramref name="target"/> is reached (1), the block holds a run (0: call again),
    /// or trace would be needed (BadQuery, with <see cref="_ip"/> at that branch). <paramref name="last"/> is the
    /// last instruction added.
    /// </summary>
    private int ProceedToIp(ref PtBlock block, ulong target, out PtInsn last)
    {
        last = default;
        while (true)
        {
            if (_ip == target) return 1;
            if (!block.IsEmpty) return 0;
            int idx = GetRun(_ip, out PtBlockCache? cache);
            if (idx < 0) return idx;
            ref PtRun run = ref cache!.Runs[idx];
            ReadOnlySpan<byte> lengths = cache.Lengths.AsSpan(run.LengthStart, run.Count);
            ulong a = run.Ip;
            // Look for the target among the run's instructions only if it lies inside the run.
            int inside = target > run.Ip && target <= run.EndIp ? run.Count - 1 : 0;
            for (int k = 0; k < inside; k++)
            {
                ulong next = a + lengths[k];
                if (next == target)
                {
                    // The target is inside the run: the block ends just before it.
                    last = new PtInsn(a, lengths[k], PtInsnClass.Other, PtInsnExt.None, false, 0);
                    SetBlock(ref block, cache, idx, run.Ip, run.Mode, k + 1);
                    CountInstructions(k + 1);
                    _ip = target;
                    return 1;
                }
                a = next;
            }
            SetBlock(ref block, cache, idx, run.Ip, run.Mode, run.Count);
            CountInstructions(run.Count);
            last = run.Last;
            LogCall(last);
            PtFlowError e = last.TryNextIp(out ulong ip);
            if (e != PtFlowError.Ok)
            {
                _ip = last.Ip;
                return Fail(e);
            }
            _ip = ip;
        }
    }

    private delegate bool InsnPredicate(in PtInsn insn);

    /// <summary>Proceeds without trace to the first instruction matching <paramref name="match"/> (1, <see cref="_ip"/> at it).</summary>
    private int ProceedToInsn(ref PtBlock block, InsnPredicate match, out PtInsn last)
    {
        last = default;
        if (!block.IsEmpty) return 0;
        int idx = GetRun(_ip, out PtBlockCache? cache);
        if (idx < 0) return idx;
        ref PtRun run = ref cache!.Runs[idx];
        // Only the last instruction of a run can be a branch or special instruction.
        SetBlock(ref block, cache, idx, run.Ip, run.Mode, run.Count);
        CountInstructions(run.Count);
        last = run.Last;
        LogCall(last);
        if (match(last))
        {
            _ip = last.Ip;
            return 1;
        }
        PtFlowError e = last.TryNextIp(out ulong ip);
        if (e != PtFlowError.Ok)
        {
            _ip = last.Ip;
            return Fail(e);
        }
        _ip = ip;
        // The block now holds a run: the next call goes on from here.
        return 0;
    }

    /// <summary>Adds the one instruction at <see cref="_ip"/> to an empty block (0 if the block already has some).</summary>
    private int ProceedOneInsn(ref PtBlock block, out PtInsn insn)
    {
        insn = default;
        if (!block.IsEmpty) return 0;
        int idx = GetRun(_ip, out PtBlockCache? cache);
        if (idx < 0) return idx;
        ref PtRun run = ref cache!.Runs[idx];
        insn = run.Count == 1 ? run.Last : new PtInsn(run.Ip, cache.Lengths[run.LengthStart], PtInsnClass.Other, PtInsnExt.None, false, 0);
        SetBlock(ref block, cache, idx, run.Ip, run.Mode, 1);
        CountInstructions(1);
        LogCall(insn);
        return 1;
    }

    /// <summary>The instruction at <paramref name="ip"/>, for errata checks.</summary>
    private int DecodeAt(ulong ip, out PtInsn insn)
    {
        ulong saved = _ip;
        int idx = GetRun(ip, out PtBlockCache? cache);
        _ip = saved;
        insn = default;
        if (idx < 0) return idx;
        ref PtRun run = ref cache!.Runs[idx];
        insn = run.Count == 1 ? run.Last : new PtInsn(run.Ip, cache.Lengths[run.LengthStart], PtInsnClass.Other, PtInsnExt.None, false, 0);
        return 0;
    }

    /// <summary>One run with the current TNT/TIP event: to the next branch, then past it using the trace.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ProceedNoEvent(ref PtBlock block)
    {
        int idx = GetRun(_ip, out PtBlockCache? cache);
        if (idx < 0) return idx;
        ref PtRun run = ref cache!.Runs[idx];
        SetBlock(ref block, cache, idx, run.Ip, run.Mode, run.Count);
        CountInstructions(run.Count);
        if (!run.EndsAtSpecial)
        {
            _ip = run.Last.NextIp;
            return 0;
        }
        return ProceedPast(run.Last);
    }

    /// <summary>Past a run's last instruction: without trace if possible, else by the trace.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ProceedPast(in PtInsn last)
    {
        switch (last.Class)
        {
            case PtInsnClass.CondJump:
            {
                if (_event.Type != PtEventType.Tnt) return Fail(PtFlowError.BadQuery);
                int size = _event.Small - 1;
                if (size < 0) return Fail(PtFlowError.Internal);
                _event.Small = (byte)size;
                _ip = ((_event.Payload >> size) & 1) != 0 ? last.Target : last.NextIp;
                return 0;
            }
            case PtInsnClass.Jump when last.IsDirect && last.Ext != PtInsnExt.Jmpabs:
                _ip = last.Target;
                return 0;
            case PtInsnClass.Call when last.IsDirect:
                LogCall(last);
                _ip = last.Target;
                return 0;
            case PtInsnClass.Other or PtInsnClass.Ptwrite:
                _ip = last.NextIp;
                return 0;
            default:
                LogCall(last);
                _ip = last.Ip;
                return ProceedWithTrace(last);
        }
    }

    // ---- events at their place ----

    private int PostponeInsn(in PtInsn insn)
    {
        if (_processInsn) return Fail(PtFlowError.Internal);
        _processInsn = true;
        _insn = insn;
        return Status(PtFlowStatus.EventPending);
    }

    private void ClearPostponedInsn()
    {
        _processInsn = _boundPaging = _boundVmcs = _boundPtwrite = _boundIret = _boundVmentry = _boundUiret = false;
    }

    private int ProceedPostponedInsn()
    {
        if (!_processInsn) return 0;
        if (!_enabled)
        {
            ClearPostponedInsn();
            return 0;
        }
        PtFlowError e = _insn.TryNextIp(out ulong ip);
        if (e == PtFlowError.Ok) _ip = ip;
        else
        {
            if (e != PtFlowError.BadQuery) return Fail(e);
            int r = ProceedWithTrace(_insn);
            if (r < 0) return r;
        }
        ClearPostponedInsn();
        return 0;
    }

    /// <summary>After a synchronous disable the IP is where tracing is expected to resume: after a call, else unknown.</summary>
    private void SetDisableResumeIp(in PtInsn insn)
    {
        _ip = insn.Class is PtInsnClass.Call or PtInsnClass.FarCall ? insn.NextIp : 0;
    }

    /// <summary>SKD022: an async disable at VMLAUNCH/VMRESUME is really a synchronous one.</summary>
    private int HandleSkd022()
    {
        if (DecodeAt(_event.From, out PtInsn insn) < 0) return 0;
        if (insn.Ext is not (PtInsnExt.Vmlaunch or PtInsnExt.Vmresume)) return 0;
        _event.Type = PtEventType.Disabled;
        return 1;
    }

    private int ProceedToBound(ref PtBlock block, InsnPredicate match, out PtInsn insn)
    {
        // The event binds to the next such instruction; with an IP we also know where it is.
        if (_event.IpSuppressed) return ProceedToInsn(ref block, match, out insn);
        int r = ProceedToIp(ref block, _event.Ip, out insn);
        if (r <= 0) return r;
        return ProceedOneInsn(ref block, out insn);
    }

    private int ProvideTrigAnchor()
    {
        if (_event.Type != PtEventType.Trig || _event.IpSuppressed) return Fail(PtFlowError.Internal);
        if (_event.Ip != 0) return 0;
        if (!_hasIcnt || _event.Icnt < _icnt) return Fail(PtFlowError.BadPacket);
        _event.Icnt -= (ushort)_icnt;
        _event.Ip = _ip;
        return 0;
    }

    private int ProceedToTrig(ref PtBlock block)
    {
        if (_event.IpSuppressed) return 1;
        int r = ProvideTrigAnchor();
        if (r < 0) return r;
        if (!_enabled) return _event.Icnt == 0 ? Fail(PtFlowError.Internal) : 1;
        r = ProceedToIp(ref block, _event.Ip, out _);
        if (r <= 0) return r;
        while (_event.Icnt != 0)
        {
            r = ProceedOneInsn(ref block, out PtInsn insn);
            if (r <= 0) return r;
            PtFlowError e = insn.TryNextIp(out ulong ip);
            if (e != PtFlowError.Ok) return Fail(e);
            _ip = ip;
            _event.Ip = ip;
            _event.Icnt--;
        }
        return 1;
    }

    private static readonly InsnPredicate ChangesCr3 = static (in PtInsn i) => i.ChangesCr3;
    private static readonly InsnPredicate BindsToPip = static (in PtInsn i) => i.BindsToPip;
    private static readonly InsnPredicate BindsToVmcs = static (in PtInsn i) => i.BindsToVmcs;
    private static readonly InsnPredicate IsPtwrite = static (in PtInsn i) => i.IsPtwrite;
    private static readonly InsnPredicate IsIret = static (in PtInsn i) => i.IsIret;
    private static readonly InsnPredicate IsVmentry = static (in PtInsn i) => i.IsVmentry;
    private static readonly InsnPredicate IsUiret = static (in PtInsn i) => i.IsUiret;

    /// <summary>Proceeds to where the current (non-branch) event binds and reports it pending.</summary>
    private int ProceedEvent(ref PtBlock block)
    {
        int r;
        PtInsn insn;
        switch (_event.Type)
        {
            case PtEventType.Enabled:
                break;
            case PtEventType.Disabled:
                if (_event.StatusUpdate) break;
                r = _event.IpSuppressed
                    ? ProceedToInsn(ref block, ChangesCr3, out insn)
                    : ProceedToIp(ref block, _event.Ip, out insn);
                if (r <= 0)
                {
                    // A synchronous disable also binds to the next branch that would need trace.
                    if (r != Fail(PtFlowError.BadQuery)) return r;
                    SetDisableResumeIp(insn);
                }
                break;
            case PtEventType.AsyncDisabled:
                r = ProceedToIp(ref block, _event.From, out _);
                if (r <= 0) return r;
                if (_evdec.Config.Errata.Skd022)
                {
                    r = HandleSkd022();
                    if (r != 0) return r < 0 ? r : ProceedEvent(ref block);
                }
                break;
            case PtEventType.AsyncBranch:
                r = ProceedToIp(ref block, _event.From, out _);
                if (r <= 0) return r;
                break;
            case PtEventType.Paging:
                if (!_enabled) break;
                r = ProceedToInsn(ref block, BindsToPip, out insn);
                if (r <= 0) return r;
                _boundPaging = true;
                return PostponeInsn(insn);
            case PtEventType.Vmcs:
                if (!_enabled) break;
                r = ProceedToInsn(ref block, BindsToVmcs, out insn);
                if (r <= 0) return r;
                _boundVmcs = true;
                return PostponeInsn(insn);
            case PtEventType.AsyncPaging or PtEventType.AsyncVmcs or PtEventType.ExecMode or PtEventType.Tsx
                or PtEventType.Iflags or PtEventType.Interrupt or PtEventType.Smi or PtEventType.Init or PtEventType.Vmexit
                or PtEventType.Shutdown or PtEventType.Uintr:
                if (_event.IpSuppressed) break;
                r = ProceedToIp(ref block, _event.Ip, out _);
                if (r <= 0) return r;
                break;
            case PtEventType.Exstop or PtEventType.Mwait:
                if (!_enabled || _event.IpSuppressed) break;
                r = ProceedToIp(ref block, _event.Ip, out _);
                if (r <= 0) return r;
                break;
            case PtEventType.Ptwrite:
                if (!_enabled) break;
                r = ProceedToBound(ref block, IsPtwrite, out insn);
                if (r <= 0) return r;
                _boundPtwrite = true;
                return PostponeInsn(insn);
            case PtEventType.Iret:
                if (!_enabled) break;
                r = ProceedToBound(ref block, IsIret, out insn);
                if (r <= 0) return r;
                _boundIret = true;
                return PostponeInsn(insn);
            case PtEventType.Vmentry:
                if (!_enabled) break;
                r = ProceedToBound(ref block, IsVmentry, out insn);
                if (r <= 0) return r;
                _boundVmentry = true;
                return PostponeInsn(insn);
            case PtEventType.Uiret:
                if (!_enabled) break;
                r = ProceedToBound(ref block, IsUiret, out insn);
                if (r <= 0) return r;
                _boundUiret = true;
                return PostponeInsn(insn);
            case PtEventType.Trig:
                r = ProceedToTrig(ref block);
                if (r <= 0) return r;
                break;
            case PtEventType.Tip or PtEventType.Tnt:
                return Fail(PtFlowError.Internal);
            default:
                // Overflow, stop, power events, CBR, MNT, tick, RSM, SIPI: nothing to walk to.
                break;
        }
        return Status(PtFlowStatus.EventPending);
    }

    /// <summary>Whether the current event applies at the current IP; proceeds past a postponed instruction otherwise.</summary>
    private int ProceedTrailingEvent()
    {
        int r;
        if (_status != PtFlowError.Ok)
        {
            r = ProceedPostponedInsn();
            if (r < 0) return r;
            // A decode error is reported through the event flow; the end of the trace through the status.
            return Status(_status != PtFlowError.EndOfStream ? PtFlowStatus.EventPending : PtFlowStatus.None);
        }
        switch (_event.Type)
        {
            case PtEventType.Tnt:
                if (_event.Small != 0) break;
                r = FetchEvent();
                if (r < 0) return r;
                return ProceedTrailingEvent();
            case PtEventType.Tip:
                break;
            case PtEventType.Disabled:
                if (!_processInsn) break;
                if (_event.IpSuppressed && _insn.ChangesCr3) return Status(PtFlowStatus.EventPending);
                {
                    PtFlowError e = _insn.TryNextIp(out ulong ip);
                    if (e != PtFlowError.Ok)
                    {
                        if (e != PtFlowError.BadQuery) return Fail(e);
                        SetDisableResumeIp(_insn);
                        return Status(PtFlowStatus.EventPending);
                    }
                    _ip = ip;
                }
                ClearPostponedInsn();
                if (!_event.IpSuppressed && _ip == _event.Ip) return Status(PtFlowStatus.EventPending);
                break;
            case PtEventType.Paging or PtEventType.Vmcs or PtEventType.Ptwrite or PtEventType.Iret or PtEventType.Vmentry
                or PtEventType.Uiret:
            {
                // Applied at once while tracing is off; else at most one of each binds to the postponed instruction.
                if (!_enabled) return Status(PtFlowStatus.EventPending);
                if (!_processInsn) break;
                bool bound, binds;
                switch (_event.Type)
                {
                    case PtEventType.Paging: bound = _boundPaging; binds = _insn.BindsToPip; break;
                    case PtEventType.Vmcs: bound = _boundVmcs; binds = _insn.BindsToVmcs; break;
                    case PtEventType.Ptwrite: bound = _boundPtwrite; binds = _event.IpSuppressed && _insn.IsPtwrite; break;
                    case PtEventType.Iret: bound = _boundIret; binds = _event.IpSuppressed && _insn.IsIret; break;
                    case PtEventType.Vmentry: bound = _boundVmentry; binds = _event.IpSuppressed && _insn.IsVmentry; break;
                    default: bound = _boundUiret; binds = _event.IpSuppressed && _insn.IsUiret; break;
                }
                if (bound || !binds) break;
                switch (_event.Type)
                {
                    case PtEventType.Paging: _boundPaging = true; break;
                    case PtEventType.Vmcs: _boundVmcs = true; break;
                    case PtEventType.Ptwrite: _boundPtwrite = true; break;
                    case PtEventType.Iret: _boundIret = true; break;
                    case PtEventType.Vmentry: _boundVmentry = true; break;
                    default: _boundUiret = true; break;
                }
                return Status(PtFlowStatus.EventPending);
            }
            case PtEventType.Enabled or PtEventType.Tick or PtEventType.Overflow or PtEventType.Stop or PtEventType.Pwre
                or PtEventType.Pwrx or PtEventType.Cbr or PtEventType.Mnt:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.AsyncDisabled:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (_ip != _event.From) break;
                if (_evdec.Config.Errata.Skd022)
                {
                    r = HandleSkd022();
                    if (r != 0)
                    {
                        if (r < 0) return r;
                        break;
                    }
                }
                return Status(PtFlowStatus.EventPending);
            case PtEventType.AsyncBranch:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (_ip != _event.From) break;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.AsyncPaging or PtEventType.AsyncVmcs:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (!_event.IpSuppressed && _ip != _event.Ip) break;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.ExecMode:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                // The event decoder orders MODE.Exec after the enable it binds to; with tracing off it applies at once.
                if (!_enabled) return Status(PtFlowStatus.EventPending);
                if (!_event.IpSuppressed && _ip != _event.Ip) break;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.Tsx:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (!_event.IpSuppressed && _ip != _event.Ip) break;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.Exstop or PtEventType.Mwait:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (!_event.IpSuppressed && _enabled && _ip != _event.Ip) break;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.Iflags or PtEventType.Interrupt or PtEventType.Smi or PtEventType.Init or PtEventType.Vmexit
                or PtEventType.Shutdown or PtEventType.Uintr:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (_enabled && !_event.IpSuppressed && _ip != _event.Ip) break;
                return Status(PtFlowStatus.EventPending);
            case PtEventType.Rsm or PtEventType.Sipi:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (!_event.IpSuppressed) return Fail(PtFlowError.Internal);
                return Status(PtFlowStatus.EventPending);
            case PtEventType.Trig:
                r = ProceedPostponedInsn();
                if (r < 0) return r;
                if (!_enabled || _event.IpSuppressed) return Status(PtFlowStatus.EventPending);
                r = ProvideTrigAnchor();
                if (r < 0) return r;
                if (_event.Icnt != 0) break;
                if (_event.Ip != _ip) return Fail(PtFlowError.BadPacket);
                return Status(PtFlowStatus.EventPending);
        }
        r = ProceedPostponedInsn();
        if (r < 0) return r;
        return Status(PtFlowStatus.None);
    }

    // ---- public steps ----

    /// <summary>
    /// The next block. Returns status flags (an event may be pending after it), or an error; on an error the block
    /// still holds what was decoded before it (its <see cref="PtBlock.Ip"/> is where decoding stood when empty).
    /// </summary>
    public int Next(out PtBlock block)
    {
        block = default;
        block.Ip = _ip;
        block.Mode = _mode;
        block.Speculative = _speculative;
        return Proceed(ref block);
    }

    /// <summary>
    /// Decodes blocks and hands each non-empty one to <paramref name="sink"/> until an event is pending, the trace ends
    /// or an error happens; returns that status as <see cref="Next"/> would after the last block, which is left in
    /// <paramref name="block"/>. Equivalent to calling <see cref="Next"/> in a loop, but while only branch trace (TNT,
    /// TIP) is current it stays in a tight loop that follows runs through their cached successors.
    /// </summary>
    public int NextBlocks<TSink>(ref TSink sink, ref PtFlowSummary summary, out PtBlock block) where TSink : IPtFlowSink
    {
        while (true)
        {
            int status;
            if (_status == PtFlowError.Ok && _enabled && !_processInsn
                && ((_event.Type == PtEventType.Tnt && _event.Small != 0) || _event.Type == PtEventType.Tip))
            {
                status = RunBranchTrace(ref sink, ref summary, out block);
                if (status < 0 || (status & (int)(PtFlowStatus.EventPending | PtFlowStatus.EndOfStream)) != 0) return status;
                if (_event.Type is PtEventType.Tnt or PtEventType.Tip && _status == PtFlowError.Ok) continue;
            }
            status = Next(out block);
            if (!block.IsEmpty)
            {
                summary.Instructions += block.InstructionCount;
                summary.Blocks++;
                sink.OnBlock(block);
            }
            if (status < 0 || (status & (int)(PtFlowStatus.EventPending | PtFlowStatus.EndOfStream)) != 0) return status;
            // Tracing off with nothing pending cannot make progress here; let the caller decide.
            if (!_enabled && block.IsEmpty) return status;
        }
    }

    /// <summary>
    /// The tight loop of <see cref="NextBlocks"/>: runs, TNT bits and TIP targets, nothing else. The IP and the TNT
    /// bits live in locals here and go back to the decoder's fields before anything else looks at them.
    /// </summary>
    private int RunBranchTrace<TSink>(ref TSink sink, ref PtFlowSummary summary, out PtBlock result) where TSink : IPtFlowSink
    {
        PtBlock block = default;
        PtBlockCache? cache = null;
        int idx = -1;
        long instructions = 0, blocks = 0;
        // Links between runs bypass the section lookup, which is only safe when no section is address-space specific.
        // A link always leads to a run of the same mode as the run it leaves, and the mode cannot change in here.
        bool useLinks = !_image.HasAddressSpaces;
        bool speculative = _speculative;
        ulong ip = _ip;
        uint counted = 0; // instructions since the last TRIG anchor update, added to _icnt when we leave
        bool tnt = _event.Type == PtEventType.Tnt;
        int left = _event.Small;
        ulong bits = _event.Payload;
        int r;
        while (true)
        {
            if (idx < 0)
            {
                _ip = ip;
                idx = GetRun(ip, out cache);
                if (idx < 0)
                {
                    block = default;
                    block.Ip = ip;
                    block.Mode = _mode;
                    block.Speculative = speculative;
                    r = idx;
                    break;
                }
            }
            ref PtRun run = ref cache!.Runs[idx];
            block.Ip = run.Ip;
            block.InstructionCount = run.Count;
            block.Mode = run.Mode;
            block.Speculative = speculative;
            block.Cache = cache;
            block.Run = idx;
            counted += (uint)run.Count;
            instructions += run.Count;
            blocks++;
            sink.OnBlock(block);

            PtRunEnd kind = run.End;
            if (kind == PtRunEnd.Next)
            {
                ip = run.Last.NextIp;
                idx = useLinks ? (run.NextRun >= 0 ? run.NextRun : run.NextRun = Link(cache, ip)) : -1;
                continue;
            }
            if (kind == PtRunEnd.DirectJump || kind == PtRunEnd.DirectCall)
            {
                // The call's run goes with its return address: the return will find the run after the call from it.
                if (kind == PtRunEnd.DirectCall && run.Last.Target != run.Last.NextIp) _retstack.Push(run.Last.NextIp, useLinks ? idx : -1);
                ip = run.Last.Target;
                idx = useLinks ? (run.TargetRun >= 0 ? run.TargetRun : run.TargetRun = Link(cache, ip)) : -1;
                continue;
            }
            if (tnt && kind == PtRunEnd.Cond)
            {
                left--;
                // Written as selects, not branches: the bit is as unpredictable as the traced program's branch.
                bool taken = ((bits >> left) & 1) != 0;
                ip = taken ? run.Last.Target : run.Last.NextIp;
                idx = taken ? run.TargetRun : run.NextRun;
                if (idx < 0 && useLinks)
                {
                    idx = Link(cache, ip);
                    if (taken) run.TargetRun = idx;
                    else run.NextRun = idx;
                }
                if (!useLinks) idx = -1;
                if (left != 0) continue;
            }
            else if (tnt && kind == PtRunEnd.Return)
            {
                // A compressed return: a taken bit, and the address from the return stack.
                left--;
                bool taken = ((bits >> left) & 1) != 0;
                if (!taken || !_retstack.TryPop(out ulong target, out int call))
                {
                    ip = run.Last.Ip;
                    r = Fail(taken ? PtFlowError.RetStackEmpty : PtFlowError.BadRetComp);
                    break;
                }
                ip = target;
                idx = -1;
                // The run after the call, if the call was one of this cache's runs (checked: same cache, mode, address).
                if ((uint)call < (uint)cache.RunCount)
                {
                    ref PtRun caller = ref cache.Runs[call];
                    if (caller.Last.NextIp == target && caller.Mode == run.Mode)
                        idx = caller.NextRun >= 0 ? caller.NextRun : caller.NextRun = Link(cache, target);
                }
                if (left != 0) continue;
            }
            else
            {
                // Everything else through the general step, with the decoder's fields up to date.
                _event.Small = (byte)left;
                _ip = ip;
                if (_hasIcnt) _icnt += counted;
                counted = 0;
                r = ProceedPastFast(ref run);
                ip = _ip;
                tnt = _event.Type == PtEventType.Tnt;
                left = _event.Small;
                if (r < 0) break;
                if (!useLinks) idx = -1;
                else if (ip == run.Last.NextIp) idx = run.NextRun >= 0 ? run.NextRun : run.NextRun = Link(cache, ip);
                else if (run.Last.IsDirect && ip == run.Last.Target) idx = run.TargetRun >= 0 ? run.TargetRun : run.TargetRun = Link(cache, ip);
                else idx = -1;
                tnt = _event.Type == PtEventType.Tnt;
                left = _event.Small;
                bits = _event.Payload;
                if (_status == PtFlowError.Ok && (_event.Type == PtEventType.Tip || (tnt && left != 0))) continue;
                if (!(tnt && left == 0))
                {
                    if (!Leave(out r, ref tnt, ref left, ref bits)) break;
                    continue;
                }
            }

            // The TNT bits ran out: fetch what comes next. Usually another TNT: FetchEvent's work, inline.
            _event.Small = 0;
            _ip = ip;
            counted = 0;
            _tsc = _event.Tsc;
            _hasTsc = _event.HasTsc;
            _lostMtc = _event.LostMtc;
            _lostCyc = _event.LostCyc;
            SetTrigAnchor();
            if (_evdec.TryNextTnt(ref _event))
            {
                left = _event.Small;
                bits = _event.Payload;
                continue;
            }
            if (!_evdec.TryNextBranch(ref _event)) _status = _evdec.Next(out _event);
            tnt = _event.Type == PtEventType.Tnt;
            left = _event.Small;
            bits = _event.Payload;
            if (_status == PtFlowError.Ok && (tnt || _event.Type == PtEventType.Tip)) continue;
            if (!Leave(out r, ref tnt, ref left, ref bits)) break;
        }
        _ip = ip;
        if (tnt && _event.Type == PtEventType.Tnt) _event.Small = (byte)left;
        if (_hasIcnt) _icnt += counted;
        summary.Instructions += instructions;
        summary.Blocks += blocks;
        result = block;
        return r;
    }

    /// <summary>
    /// Something other than branch trace is current: see whether it applies here. True when branch trace is current
    /// again (the loop goes on, with the TNT state reloaded); else <paramref name="status"/> is what to return.
    /// </summary>
    private bool Leave(out int status, ref bool tnt, ref int left, ref ulong bits)
    {
        status = ProceedTrailingEvent();
        tnt = _event.Type == PtEventType.Tnt;
        left = _event.Small;
        bits = _event.Payload;
        return status == 0 && _status == PtFlowError.Ok && (tnt || _event.Type == PtEventType.Tip);
    }

    /// <summary>
    /// <see cref="ProceedPast"/> for the branch-trace loop, with indirect branches and their TIP inline; the rest
    /// through the general path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ProceedPastFast(ref PtRun run)
    {
        switch (run.Last.Class)
        {
            case PtInsnClass.Return or PtInsnClass.Jump or PtInsnClass.Call or PtInsnClass.FarCall or PtInsnClass.FarReturn
                or PtInsnClass.FarJump or PtInsnClass.Indirect when !run.Last.IsDirect && _event.Type == PtEventType.Tip:
                // An indirect branch or uncompressed return and its TIP.
                LogCall(run.Last);
                _ip = run.Last.Ip;
                if (_event.IpSuppressed) return Fail(PtFlowError.BadPacket);
                _ip = _event.Ip;
                return FetchEvent();
            default:
                return ProceedPast(run.Last);
        }
    }

    /// <summary>The run at <paramref name="ip"/> if it is in the same section (decoding it if needed), else -1.</summary>
    private int Link(PtBlockCache cache, ulong ip)
    {
        if (!cache.Section.Contains(ip)) return -1;
        int idx = GetRun(ip, out PtBlockCache? c);
        return idx >= 0 && c == cache ? idx : -1;
    }

    private int Proceed(ref PtBlock block)
    {
        if (_status != PtFlowError.Ok)
        {
            if (_status != PtFlowError.EndOfStream) return Fail(_status);
            // Out of trace: the user may still proceed until trace is needed (stitching adjacent segments).
            if (!_enabled) return Fail(PtFlowError.EndOfStream);
            int r0 = ProceedNoEvent(ref block);
            if (r0 < 0) return r0;
            return (int)PtFlowStatus.EndOfStream;
        }
        if (_event.Type is PtEventType.Tnt or PtEventType.Tip)
        {
            if (!_enabled) return Fail(PtFlowError.NoEnable);
            int r = ProceedNoEvent(ref block);
            if (r < 0) return r;
            return ProceedTrailingEvent();
        }
        return ProceedEvent(ref block);
    }

    /// <summary>The pending event (call while the status says <see cref="PtFlowStatus.EventPending"/>).</summary>
    public int Event(out PtEvent ev)
    {
        ev = PtEvent.Invalid;
        if (_status != PtFlowError.Ok) return Fail(_status);
        int r;
        switch (_event.Type)
        {
            case PtEventType.Tnt or PtEventType.Tip:
                return Fail(PtFlowError.BadQuery);
            case PtEventType.Enabled:
                // Resumed: tracing continues where it stopped (after a call, at its return address).
                if (_event.Ip == _ip) _event.Set(PtEventBits.Resumed, true);
                r = ProcessEnabled();
                if (r < 0) return r;
                break;
            case PtEventType.AsyncDisabled:
                if (_ip != _event.From) return Fail(PtFlowError.BadQuery);
                goto case PtEventType.Disabled;
            case PtEventType.Disabled:
                r = ProcessDisabled();
                if (r < 0) return r;
                break;
            case PtEventType.AsyncBranch:
                if (_ip != _event.From) return Fail(PtFlowError.BadQuery);
                if (_event.StatusUpdate || !_enabled) return Fail(PtFlowError.BadContext);
                _ip = _event.Ip;
                break;
            case PtEventType.AsyncPaging:
                if (!_event.IpSuppressed && _ip != _event.Ip) return Fail(PtFlowError.BadQuery);
                goto case PtEventType.Paging;
            case PtEventType.Paging:
                SetCr3(_event.Payload);
                break;
            case PtEventType.AsyncVmcs:
                if (!_event.IpSuppressed && _ip != _event.Ip) return Fail(PtFlowError.BadQuery);
                goto case PtEventType.Vmcs;
            case PtEventType.Vmcs:
                _vmcs = _event.Payload;
                break;
            case PtEventType.Overflow:
                if (_event.StatusUpdate) return Fail(PtFlowError.BadContext);
                if (_event.IpSuppressed)
                {
                    // Tracing resumed disabled; the old IP would only mislead.
                    _enabled = false;
                    _ip = 0;
                }
                else
                {
                    _enabled = true;
                    _ip = _event.Ip;
                }
                _speculative = false;
                break;
            case PtEventType.ExecMode:
                if (_enabled && !_event.IpSuppressed && _ip != _event.Ip) return Fail(PtFlowError.BadQuery);
                if (_event.StatusUpdate && _enabled && _mode != PtExecMode.Unknown && _mode != _event.Mode)
                    return Fail(PtFlowError.BadStatusUpdate);
                _mode = _event.Mode;
                break;
            case PtEventType.Tsx:
                if (!_event.IpSuppressed && _ip != _event.Ip) return Fail(PtFlowError.BadQuery);
                _speculative = _event.Has(PtEventBits.Speculative);
                break;
            case PtEventType.Stop:
                if (_event.StatusUpdate || _enabled) return Fail(PtFlowError.BadContext);
                break;
            case PtEventType.Exstop or PtEventType.Mwait:
                if (!_event.IpSuppressed && _enabled && _ip != _event.Ip) return Fail(PtFlowError.BadQuery);
                break;
            case PtEventType.Cbr:
                _cbr = _event.Small;
                break;
            case PtEventType.Iflags or PtEventType.Interrupt or PtEventType.Smi or PtEventType.Init or PtEventType.Vmexit
                or PtEventType.Shutdown or PtEventType.Uintr or PtEventType.Trig:
                if (_enabled && !_event.IpSuppressed && _ip != _event.Ip) return Fail(PtFlowError.BadQuery);
                break;
            case PtEventType.Rsm or PtEventType.Sipi:
                if (!_event.IpSuppressed) return Fail(PtFlowError.Internal);
                break;
        }
        ev = _event;
        r = FetchEvent();
        if (r < 0) return r;
        return ProceedTrailingEvent();
    }

    private int ProcessEnabled()
    {
        if (_event.StatusUpdate) return _enabled ? 0 : Fail(PtFlowError.BadStatusUpdate);
        if (_event.IpSuppressed) return Fail(PtFlowError.NoIp);
        if (_enabled) return Fail(PtFlowError.BadContext);
        _ip = _event.Ip;
        _enabled = true;
        return 0;
    }

    private int ProcessDisabled()
    {
        if (_event.StatusUpdate) return _enabled ? Fail(PtFlowError.BadStatusUpdate) : 0;
        if (!_enabled) return Fail(PtFlowError.BadContext);
        // The IP stays: tracing is expected to resume there, and the enable will say so.
        _enabled = false;
        _icnt = 0;
        return 0;
    }

    private void SetCr3(ulong cr3)
    {
        if (_cr3 == cr3) return;
        _cr3 = cr3;
        _lastSection = null;
    }
}
