using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Decoders.Calls;

/// <summary>
/// One thread's call stack, rebuilt from its decoded Intel PT blocks: a shadow stack where a call pushes a frame
/// with its return address and a return pops to the frame whose return address it goes to. Each block is
/// straight-line code that ends in at most one branch, so the branch that ended a block and the address the next
/// block starts at say what happened between them:
/// <list type="bullet">
/// <item>a call to somewhere other than the next instruction: a new frame (a call to the next instruction only
/// reads the instruction pointer);</item>
/// <item>a return to a frame's return address: that frame and any above it leave (several at once: longjmp
/// through a return, an exception's unwinder);</item>
/// <item>a return or jump into a function lower on the stack that matches no return address: unwound to it
/// (longjmp ends with an indirect jump into its caller's caller);</item>
/// <item>a return that matches nothing while only the first frame is known: the trace began mid-stack, and the
/// caller's frame is made up as if it had begun with the trace (<see cref="CallEnterKind.Caller"/>);</item>
/// <item>a jump to another function's entry: a tail call, which replaces the frame that jumped;</item>
/// <item>tracing that resumes somewhere else than where it stopped: an asynchronous entry (a signal handler), a
/// frame that leaves when the handler returns or tracing resumes where it was interrupted;</item>
/// <item>a gap, an error, an overflow or the end: every open frame is closed at the last time seen, marked.</item>
/// </list>
/// Telling jumps apart needs function ranges (<see cref="IFunctionResolver"/>); without them every jump stays in
/// its frame. Nothing is allocated per block: frames live in one array that only grows with the deepest stack.
/// </summary>
public sealed class CallStackReconstructor(ICallSink sink, IFunctionResolver? functions = null)
{
    /// <summary>Deeper stacks are rare, or calls that never return (call/pop tricks): not followed (and trees stay shallow enough to walk recursively).</summary>
    public const int MaxDepth = 4096;

    private CallFrame[] _frames = new CallFrame[64];
    private int _count;
    private ulong _time, _instructions;
    private ulong _segmentStartTime, _segmentStartInstructions;
    private PtInsn _pending;
    private bool _hasPending, _started, _afterDisable, _depthWarned, _timed;
    private ulong _resumeIp, _asyncFrom;
    private bool _hasAsync;

    /// <summary>The frames open now, outermost first.</summary>
    public ReadOnlySpan<CallFrame> Frames => _frames.AsSpan(0, _count);

    /// <summary>The thread's instructions so far (every block counts, in whichever frame is on top).</summary>
    public ulong Instructions => _instructions;

    /// <summary>The last time seen (perf ns); the reconstructor never lets time go backwards, and gives each block its own nanosecond.</summary>
    public ulong Time => _time;

    /// <summary>A block of the thread's instructions, executed at <paramref name="time"/> (perf ns).</summary>
    public void Block(in PtBlock block, ulong time)
    {
        if (block.InstructionCount == 0) return;
        Block(block.Ip, block.InstructionCount, block.Last, time);
    }

    /// <summary>
    /// A block given by its parts: it starts at <paramref name="ip"/>, holds <paramref name="instructionCount"/>
    /// instructions and ends with <paramref name="last"/> (the branch that ends it, or a plain instruction).
    /// </summary>
    public void Block(ulong ip, int instructionCount, in PtInsn last, ulong time)
    {
        if (instructionCount <= 0) return;
        // The decoder's time moves only at timing packets, so many blocks share one time. Each block is placed at
        // least 1 ns after the one before: calls never last 0 ns and nest unambiguously in a viewer; the drift is at
        // most a nanosecond per block of a timing period and ends when the trace's time passes it.
        _time = _timed ? Math.Max(time, _time + 1) : time;
        _timed = true;
        if (!_started) Start(ip);
        else if (_hasAsync) EnterAsync(ip, _asyncFrom);
        else if (_afterDisable) Resume(ip);
        else if (_hasPending) Transition(ip);
        if (_count == 0) Push(ip, 0, CallEnterKind.TraceStart, _time, _instructions);
        _hasAsync = _afterDisable = false;
        _instructions += (ulong)instructionCount;
        _pending = last;
        _hasPending = _pending.Class is not (PtInsnClass.Other or PtInsnClass.Unknown or PtInsnClass.Ptwrite);
        _resumeIp = _pending.NextIp;
    }

    /// <summary>An event of the thread's trace (status updates restate state and are ignored).</summary>
    public void Event(in PtEvent ev, ulong time)
    {
        if (ev.StatusUpdate) return;
        if (time > _time) _time = time;
        switch (ev.Type)
        {
            case PtEventType.Disabled:
                // Tracing stopped after the last block (a system call, an exit to code not traced); it resumes
                // either right after it or somewhere else (a signal handler, a sigreturn to the interrupted code).
                _afterDisable = _started;
                _hasPending = false;
                break;
            case PtEventType.AsyncDisabled:
                _afterDisable = _started;
                _hasPending = false;
                if (!ev.IpSuppressed) _resumeIp = ev.From;
                break;
            case PtEventType.AsyncBranch:
                // An interrupt taken at From, traced into its handler: returning to From leaves the handler.
                if (!_started) break;
                _hasAsync = true;
                _asyncFrom = ev.From;
                _hasPending = false;
                break;
            case PtEventType.Overflow:
                Cut(CallMarkKind.Overflow, ev.IpSuppressed ? 0 : ev.Ip);
                break;
        }
    }

    /// <summary>A decode error: the frames end here, and the trace restarts at the next PSB without them.</summary>
    public void Error(ulong ip, ulong time)
    {
        if (time > _time) _time = time;
        Cut(CallMarkKind.Error, ip);
    }

    /// <summary>The trace continues after a hole: the frames end at the last time seen (blocks), and the mark is there.</summary>
    public void Gap() => Cut(CallMarkKind.Gap, 0);

    /// <summary>The process executed a new program (the sideband says so): the old calls end where its trace stopped.</summary>
    public void Exec() => Cut(CallMarkKind.Exec, 0);

    /// <summary>The trace ended: close whatever is open at the last time seen.</summary>
    public void End()
    {
        CloseAll();
        _started = false;
    }

    private void Cut(CallMarkKind kind, ulong ip)
    {
        bool had = _started;
        CloseAll();
        _started = false;
        if (had || kind != CallMarkKind.Gap) sink.OnMark(kind, _time, ip);
    }

    private void Start(ulong ip)
    {
        _started = true;
        _hasPending = _afterDisable = _hasAsync = false;
        _segmentStartTime = _time;
        _segmentStartInstructions = _instructions;
        Push(ip, 0, CallEnterKind.TraceStart, _time, _instructions);
    }

    private void Transition(ulong ip)
    {
        ulong next = _pending.NextIp;
        switch (_pending.Class)
        {
            case PtInsnClass.Call or PtInsnClass.FarCall:
                // call next-instruction only reads RIP (position-independent code); a far call that lands right
                // after itself went to code that is not traced (a system call in a user-only trace).
                if (ip != next) Push(ip, next, _pending.Class == PtInsnClass.Call ? CallEnterKind.Call : CallEnterKind.Async, _time, _instructions);
                break;
            case PtInsnClass.Return:
                Return(ip, far: false);
                break;
            case PtInsnClass.FarReturn:
                Return(ip, far: true);
                break;
            case PtInsnClass.CondJump:
                if (ip != next) Jump(ip);
                break;
            default:
                Jump(ip);
                break;
        }
    }

    private void Return(ulong ip, bool far)
    {
        ref CallFrame top = ref _frames[_count - 1];
        if (top.ReturnAddress == ip)
        {
            PopTo(_count - 1, CallExitKind.Return);
            return;
        }
        for (int i = _count - 2; i >= 0; i--)
        {
            if (_frames[i].ReturnAddress != ip) continue;
            PopTo(i, CallExitKind.Unwind);
            return;
        }
        if (top.FunctionEnd != 0 && top.Contains(ip)) return;   // a return used as a jump inside the function
        if (UnwindInto(ip)) return;
        if (far) return;   // an IRET or SYSRET to code this stack never saw leave: stay
        if (_count == 1 && top.ReturnAddress == 0)
        {
            // The trace began inside this function: it returns to a caller made up now, that began with the trace.
            PopTo(0, CallExitKind.Return);
            MadeUpCaller(ip);
            return;
        }
        // A return to somewhere no frame expects (a signal handler returning into the restorer, a retpoline):
        // the top frame is done; the code it went to runs in the frame below.
        if (_count > 1) PopTo(_count - 1, CallExitKind.Return);
    }

    private void Jump(ulong ip)
    {
        ref CallFrame top = ref _frames[_count - 1];
        if (top.FunctionEnd != 0 && top.Contains(ip)) return;
        if (functions is null || !functions.TryGetFunction(ip, out ulong start, out _)) return;
        if (start == ip)
        {
            // A tail call: the new function returns where the one that jumped would have.
            ulong ret = top.ReturnAddress;
            PopTo(_count - 1, CallExitKind.TailCall);
            Push(ip, ret, CallEnterKind.TailCall, _time, _instructions);
            return;
        }
        UnwindInto(ip);   // longjmp lands inside a function lower on the stack; else a jump to a cold part: stay
    }

    /// <summary>A transfer into a function lower on the stack: the frames above it are unwound.</summary>
    private bool UnwindInto(ulong ip)
    {
        for (int i = _count - 2; i >= 0; i--)
        {
            ref CallFrame f = ref _frames[i];
            if (f.FunctionEnd == 0 || !f.Contains(ip)) continue;
            PopTo(i + 1, CallExitKind.Unwind);
            return true;
        }
        return false;
    }

    /// <summary>Tracing resumed at <paramref name="ip"/> after being disabled.</summary>
    private void Resume(ulong ip)
    {
        if (ip == _resumeIp) return;
        for (int i = _count - 1; i >= 0; i--)
        {
            if (_frames[i].Kind != CallEnterKind.Async || _frames[i].ReturnAddress != ip) continue;
            PopTo(i, CallExitKind.Return);
            return;
        }
        ref CallFrame top = ref _frames[_count - 1];
        if (top.FunctionEnd != 0 && top.Contains(ip)) return;   // back where a signal interrupted it (sigreturn)
        if (UnwindInto(ip)) return;
        EnterAsync(ip, _resumeIp);
    }

    private void EnterAsync(ulong ip, ulong returnTo) => Push(ip, returnTo, CallEnterKind.Async, _time, _instructions);

    private void MadeUpCaller(ulong ip)
    {
        // Everything since the segment began ran inside this caller.
        ulong children = _instructions - _segmentStartInstructions, childTime = _time - _segmentStartTime;
        Push(ip, 0, CallEnterKind.Caller, _segmentStartTime, _segmentStartInstructions);
        _frames[_count - 1].ChildInstructions = children;
        _frames[_count - 1].ChildTime = childTime;
    }

    private void Push(ulong ip, ulong returnAddress, CallEnterKind kind, ulong time, ulong instructions)
    {
        if (_count == MaxDepth)
        {
            if (!_depthWarned) sink.OnMark(CallMarkKind.DepthLimit, _time, ip);
            _depthWarned = true;
            return;
        }
        if (_count == _frames.Length) Array.Resize(ref _frames, _frames.Length * 2);
        ulong start = 0, end = 0;
        if (functions is not null && !functions.TryGetFunction(ip, out start, out end)) start = end = 0;
        ref CallFrame f = ref _frames[_count];
        f = new CallFrame
        {
            Function = ip,
            FunctionStart = start,
            FunctionEnd = end,
            ReturnAddress = returnAddress,
            EnterTime = time,
            EnterInstructions = instructions,
            Depth = _count,
            Kind = kind,
        };
        _count++;
        sink.OnEnter(f);
    }

    /// <summary>Frames from index <paramref name="depth"/> up leave; the one at <paramref name="depth"/> the way given.</summary>
    private void PopTo(int depth, CallExitKind kind)
    {
        while (_count > depth)
        {
            ref CallFrame f = ref _frames[_count - 1];
            ulong total = _instructions - f.EnterInstructions, time = _time - f.EnterTime;
            ulong self = total >= f.ChildInstructions ? total - f.ChildInstructions : 0;
            ulong selfTime = time >= f.ChildTime ? time - f.ChildTime : 0;
            CallExitKind how = _count - 1 == depth ? kind : kind == CallExitKind.Cut ? kind : CallExitKind.Unwind;
            sink.OnExit(f, new CallExit(_time, total, self, time, selfTime, how));
            _count--;
            if (_count > 0)
            {
                ref CallFrame parent = ref _frames[_count - 1];
                parent.ChildInstructions += total;
                parent.ChildTime += time;
            }
        }
    }

    private void CloseAll()
    {
        if (_count > 0) PopTo(0, CallExitKind.Cut);
        _hasPending = _afterDisable = _hasAsync = false;
    }
}
