using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>What one stream of trace is: the AUX data of one thread (per-thread recording) or of one CPU.</summary>
public readonly record struct StreamKey(bool PerCpu, int Cpu, int Tid, uint Idx)
{
    public override string ToString() => PerCpu ? $"cpu {Cpu}" : $"tid {Tid}";
}

/// <summary>
/// Follows one decoding stream through the sideband: which thread (and process) the trace is in, what time it is
/// in perf time, and which code is mapped, applying the mapping changes at the points of the trace where they
/// happened. Call <see cref="OnEvent"/> with each event before anything else sees it: the decoder walks no code
/// between an event and the next block, so the image can change there.
/// <para>
/// Mappings change inside system calls (exec, mmap) and threads change at context switches, so they are applied at
/// tracing boundaries: before the code after each enable (TIP.PGE, or a PSB+ that finds tracing on), after each
/// disable, at overflows and, for per-CPU streams, at paging events. Timed traces apply the sideband up to the
/// boundary's time (the trace's TSC in perf time). The trace's time is only as fine as its timing packets, so when
/// the enable's target is not mapped yet, later changes of the process are tried in order until one maps it (an
/// exec's new image that the sideband timestamps a little after the estimate).
/// </para>
/// <para>
/// Traces without time (no tsc, or no conversion) cannot place a change by time. Per thread, the sideband is then
/// applied in order: the process as it was when the thread's tracing started (ITRACE_START), then at each enable all
/// pending mmaps that only add code (the libraries ld.so maps in its system calls, before jumping into them), up to
/// the first change that would take code away (an exec, or a mapping over code); that one is applied only when the
/// enable's target is not mapped before it and is after it. A per-CPU stream without time stays with the first thread
/// the sideband puts on its CPU.
/// </para>
/// </summary>
public sealed class StreamContext
{
    private readonly SidebandModel _model;
    private readonly PerfTimeConversion _conversion;
    private readonly StreamImage _image;
    private readonly Dictionary<int, AddressSpaceCursor> _processes = [];
    private readonly AddressSpaceCursor _kernel = new();
    private readonly HashSet<(int Pid, int Position, ulong Page)> _lookaheadFailed = [];
    private AddressSpaceCursor _process;
    private readonly bool _buildImages;
    private bool _started;

    /// <param name="buildImages">False when only events are decoded: thread and time are followed, no code is loaded.</param>
    public StreamContext(SidebandModel model, ImageSource source, PerfTimeConversion conversion, StreamKey key, bool buildImages = true)
    {
        _buildImages = buildImages;
        _model = model;
        _conversion = conversion;
        Key = key;
        _image = new StreamImage(source);
        _kernel.Reset(model.Kernel);
        _process = new AddressSpaceCursor();
        Tid = key.PerCpu ? -1 : key.Tid;
        Pid = Tid > 0 ? model.PidOf(Tid) : -1;
    }

    public StreamKey Key { get; }
    public PtImage Image => _image.Image;
    public StreamImage StreamImage => _image;
    /// <summary>The thread the trace is in now (-1: unknown).</summary>
    public int Tid { get; private set; }
    public int Pid { get; private set; }
    /// <summary>Perf time (ns) of the trace now; valid when <see cref="HasTime"/>.</summary>
    public ulong Time { get; private set; }
    public bool HasTime { get; private set; }
    /// <summary>Bumped whenever <see cref="Tid"/> changes, so output can start a new thread's section.</summary>
    public int ThreadGeneration { get; private set; }
    public bool Timeless => !_conversion.Valid;

    /// <summary>The mapping holding <paramref name="ip"/> in the current process (or the kernel), or null.</summary>
    public CodeMapping? MappingAt(ulong ip) => _process.State.Find(ip) ?? _kernel.State.Find(ip);

    /// <summary>The decoder's time moved (TSC units), without a boundary.</summary>
    public void OnTime(ulong tsc)
    {
        if (!_conversion.Valid) return;
        Time = _conversion.ToPerfTime(tsc);
        HasTime = true;
    }

    public void OnEvent(in PtEvent ev)
    {
        if (ev.HasTsc) OnTime(ev.Tsc);
        switch (ev.Type)
        {
            case PtEventType.Enabled:
                // A PSB+ that finds tracing on is no switch: the thread that was traced still is (the switch record
                // precedes the disable that ends its trace, so asking by time there would name the next thread).
                Boundary(ev.IpSuppressed ? null : ev.Ip, enable: true, threadMayChange: !ev.StatusUpdate);
                break;
            case PtEventType.Disabled or PtEventType.AsyncDisabled:
                // The trace of the thread that ran stops here: its mappings may change, the thread does not.
                Boundary(null, enable: false, threadMayChange: false);
                break;
            case PtEventType.Overflow:
                Boundary(ev.IpSuppressed ? null : ev.Ip, enable: !ev.IpSuppressed);
                break;
            case PtEventType.Paging or PtEventType.AsyncPaging when Key.PerCpu && !ev.StatusUpdate:
                // A CR3 write: in a system-wide trace, a context switch without a tracing boundary.
                Boundary(null, enable: false);
                break;
        }
    }

    /// <summary>
    /// A decode error at <paramref name="ip"/>: when it is a missing image the trace needed, returns its problem
    /// the first time any stream needs it (for a one-time report), else null.
    /// </summary>
    public ImageProblem? OnError(PtFlowError error, ulong ip)
    {
        if (error != PtFlowError.NoMap || MappingAt(ip) is not { } m) return null;
        ImageSource source = _image.Source;
        return source.ProblemOf(m) is { } problem && source.NoteNeeded(m) ? problem : null;
    }

    private void Boundary(ulong? target, bool enable, bool threadMayChange = true)
    {
        bool changed = false;
        if (!_started)
        {
            _started = true;
            changed = true;
            StartThread();
        }
        if (Key.PerCpu && threadMayChange && HasTime && _model.TryGetRunning(Key.Cpu, Time, out int tid, out int pid) && tid != Tid)
        {
            SwitchThread(tid, pid);
            changed = true;
        }
        if (HasTime)
        {
            changed |= _process.AdvanceToTime(Time);
            changed |= _kernel.AdvanceToTime(Time);
        }
        else if (enable)
        {
            changed |= ApplyAdditions();
        }
        if (enable && target is ulong ip && MappingAt(ip) is null) changed |= LookAhead(ip);
        if (changed && _buildImages) _image.Set(_process.State, _kernel.State);
    }

    private void StartThread()
    {
        if (Key.PerCpu)
        {
            int tid = -1, pid = -1;
            if (!(HasTime && _model.TryGetRunning(Key.Cpu, Time, out tid, out pid)))
            {
                if (!_model.TryGetFirstOnCpu(Key.Cpu, out tid)) tid = Key.Tid;
                pid = tid > 0 ? _model.PidOf(tid) : -1;
            }
            SwitchThread(tid, pid);
        }
        else SwitchThread(Key.Tid, Pid);
        if (!HasTime)
        {
            // Without time: the process as it was when this thread's tracing started; all of the kernel's.
            long start = Tid > 0 ? _model.StartSeqOf(Tid) : long.MaxValue;
            _process.AdvanceToSeq(start);
            _kernel.AdvanceToSeq(long.MaxValue);
        }
    }

    private void SwitchThread(int tid, int pid)
    {
        Tid = tid;
        ThreadGeneration++;
        if (pid == Pid && _process.History is not null) return;
        Pid = pid;
        if (!_processes.TryGetValue(pid, out AddressSpaceCursor? cursor))
        {
            cursor = new AddressSpaceCursor();
            cursor.Reset(_model.HistoryOf(pid));
            _processes[pid] = cursor;
        }
        _process = cursor;
    }

    /// <summary>Timeless: the pending mmaps that only add code, up to the first change that would take code away.</summary>
    private bool ApplyAdditions()
    {
        bool changed = false;
        while (_process.Pending is { Kind: AddressSpaceChangeKind.Map } c && _process.State.OnlyAdds(c.Mapping!))
            changed |= _process.ApplyNext();
        return changed;
    }

    /// <summary>
    /// The trace enters code no mapping holds yet: apply the process's next changes until one maps it. Undone when
    /// none does (the address may simply be unknown, such as kernel entry code).
    /// </summary>
    private bool LookAhead(ulong ip)
    {
        if (!_process.HasPending) return false;
        var key = (Pid, _process.Position, ip >> 12);
        if (_lookaheadFailed.Contains(key)) return false;
        var saved = _process.Save();
        bool changed = false;
        while (_process.HasPending)
        {
            changed |= _process.ApplyNext();
            if (MappingAt(ip) is not null) return changed;
        }
        _process.Restore(saved);
        _lookaheadFailed.Add(key);
        return false;
    }
}
