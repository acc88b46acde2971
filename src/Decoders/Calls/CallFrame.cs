namespace DotnetPtrace.Decoders.Calls;

/// <summary>How a frame came to be on the call stack.</summary>
public enum CallEnterKind : byte
{
    /// <summary>A near call (or, with kernel tracing, a far call such as SYSCALL that the trace follows).</summary>
    Call,
    /// <summary>A jump to another function's entry replaced the frame that jumped (a tail call, a PLT stub's jump).</summary>
    TailCall,
    /// <summary>Code the trace entered asynchronously: an interrupt, a signal handler.</summary>
    Async,
    /// <summary>Where the trace (or a part of it after a gap) begins: the function is known, its caller is not.</summary>
    TraceStart,
    /// <summary>
    /// The trace started mid-stack and a function returned to a caller it never saw called: the caller's frame is
    /// made up, as if it began where this part of the trace began, and it encloses everything at its depth and below
    /// since then (frames already exited included).
    /// </summary>
    Caller,
}

/// <summary>How a frame left the call stack.</summary>
public enum CallExitKind : byte
{
    /// <summary>It returned (a return to its return address, or to the caller it was made up for).</summary>
    Return,
    /// <summary>Unwound with others at once: longjmp, exception, a return to a frame further down.</summary>
    Unwind,
    /// <summary>Replaced by a tail call.</summary>
    TailCall,
    /// <summary>Closed at the last time before a gap, error, overflow or the end of the trace: where it ended is unknown.</summary>
    Cut,
}

/// <summary>Something on a thread's timeline that is not a call: where the trace has a hole or a problem.</summary>
public enum CallMarkKind : byte
{
    /// <summary>The trace continues after a hole (a new segment, a resync): nothing before it carries over.</summary>
    Gap,
    /// <summary>A decode error; decoding resumed at the next PSB.</summary>
    Error,
    /// <summary>The CPU's trace buffer overflowed (OVF): trace was lost here.</summary>
    Overflow,
    /// <summary>More nested calls than the reconstructor keeps: deeper calls are counted in the deepest frame.</summary>
    DepthLimit,
    /// <summary>The process executed a new program (execve): the old program's calls end, never to return.</summary>
    Exec,
}

/// <summary>
/// One frame of a thread's reconstructed call stack. <see cref="Function"/> names it: the address the frame was
/// entered at (a function's entry for calls; any address in the function for frames made up at the start of a trace),
/// to be turned into a name by the symbols of the function holding it.
/// </summary>
public struct CallFrame
{
    public ulong Function;
    /// <summary>The function's range when known (<see cref="FunctionEnd"/> 0: unknown).</summary>
    public ulong FunctionStart, FunctionEnd;
    /// <summary>Where the return goes: the instruction after the call; 0 when unknown (made-up frames).</summary>
    public ulong ReturnAddress;
    /// <summary>Perf time (ns) and the thread's instruction count when the frame was entered.</summary>
    public ulong EnterTime, EnterInstructions;
    /// <summary>What the frames called from this one took in total (instructions, ns).</summary>
    public ulong ChildInstructions, ChildTime;
    /// <summary>Index on the stack: 0 is the outermost frame known.</summary>
    public int Depth;
    public CallEnterKind Kind;

    public readonly bool Contains(ulong ip) => ip >= FunctionStart && ip < FunctionEnd;
}

/// <summary>What a frame took, told when it leaves the stack.</summary>
public readonly record struct CallExit(ulong Time, ulong Instructions, ulong SelfInstructions, ulong Nanoseconds, ulong SelfNanoseconds, CallExitKind Kind);

/// <summary>Receives a thread's reconstructed calls, in the order they happen.</summary>
public interface ICallSink
{
    void OnEnter(in CallFrame frame);
    void OnExit(in CallFrame frame, in CallExit exit);
    void OnMark(CallMarkKind kind, ulong time, ulong ip);
}

/// <summary>The functions code addresses are in, so calls can tell a tail call, a longjmp and a jump inside a function apart.</summary>
public interface IFunctionResolver
{
    /// <summary>The function holding <paramref name="ip"/>: its range [start, end). False when no symbol covers it.</summary>
    bool TryGetFunction(ulong ip, out ulong start, out ulong end);
}
