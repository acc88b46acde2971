using DotnetPtrace.Decoders.Calls;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Tests.Calls;

/// <summary>
/// The call stack reconstructor on hand-made block sequences: each test is a little program laid out in an address
/// space of made-up functions (every function 0x100 bytes at its own address), written down as the blocks a decoder
/// would hand over, with the calls, returns and counts the program makes by construction.
/// </summary>
public sealed class CallStackReconstructorTests
{
    private const ulong Main = 0x1000, A = 0x2000, B = 0x3000, C = 0x4000, Handler = 0x5000, Restorer = 0x6000, LongJmp = 0x7000;

    private sealed class Functions : IFunctionResolver
    {
        public bool TryGetFunction(ulong ip, out ulong start, out ulong end)
        {
            start = ip & ~0xfffUL;
            end = start + 0x100;
            return ip >= 0x1000 && ip < 0x8000 && ip < end;
        }
    }

    private sealed record Entry(string What, ulong Function, ulong Time, ulong Insns, ulong Self, int Depth, string Kind);

    private sealed class Recorder : ICallSink
    {
        public List<Entry> Log { get; } = [];
        public void OnEnter(in CallFrame f) => Log.Add(new Entry("enter", f.Function, f.EnterTime, f.EnterInstructions, 0, f.Depth, f.Kind.ToString()));
        public void OnExit(in CallFrame f, in CallExit e) => Log.Add(new Entry("exit", f.Function, e.Time, e.Instructions, e.SelfInstructions, f.Depth, e.Kind.ToString()));
        public void OnMark(CallMarkKind kind, ulong time, ulong ip) => Log.Add(new Entry("mark", ip, time, 0, 0, -1, kind.ToString()));

        /// <summary>"enter main", "exit a Return" ... without numbers, for the shape of the run.</summary>
        public string Shape => string.Join(", ", Log.Select(e => e.What == "mark" ? $"mark {e.Kind}" : $"{e.What} {Name(e.Function)}{(e.What == "exit" ? " " + e.Kind : e.Kind is "Call" ? "" : " " + e.Kind)}"));
    }

    private static string Name(ulong ip) => (ip & ~0xfffUL) switch
    {
        Main => "main", A => "a", B => "b", C => "c", Handler => "handler", Restorer => "restorer", LongJmp => "longjmp", _ => $"{ip:x}",
    };

    // Block ends: a call of 5 bytes, a return of 1, a jump of 2, a plain instruction of 3.
    private static PtInsn Call(ulong at, ulong target) => new(at, 5, PtInsnClass.Call, PtInsnExt.None, true, target);
    private static PtInsn Ret(ulong at) => new(at, 1, PtInsnClass.Return, PtInsnExt.None, false, 0);
    private static PtInsn Jmp(ulong at, ulong target) => new(at, 2, PtInsnClass.Jump, PtInsnExt.None, target != 0, target);
    private static PtInsn Syscall(ulong at) => new(at, 2, PtInsnClass.FarCall, PtInsnExt.Syscall, false, 0);
    private static PtInsn Plain(ulong at) => new(at, 3, PtInsnClass.Other, PtInsnExt.None, false, 0);

    private static (CallStackReconstructor R, Recorder Log) New(bool functions = true)
    {
        var log = new Recorder();
        return (new CallStackReconstructor(log, functions ? new Functions() : null), log);
    }

    [Fact]
    public void Nested_calls_enter_and_leave_in_order_with_exact_instruction_counts()
    {
        var (r, log) = New();
        r.Block(Main, 4, Call(Main + 0x10, A), 100);          // main: 4 insns, calls a
        r.Block(A, 3, Call(A + 0x08, B), 110);                // a: 3, calls b
        r.Block(B, 7, Ret(B + 0x20), 120);                    // b: 7, returns
        r.Block(A + 0x0d, 2, Ret(A + 0x30), 130);             // a: 2 more, returns
        r.Block(Main + 0x15, 1, Plain(Main + 0x15), 140);     // main: 1 more
        r.End();

        Assert.Equal("enter main TraceStart, enter a, enter b, exit b Return, exit a Return, exit main Cut", log.Shape);
        Entry b = log.Log.Single(e => e.What == "exit" && e.Function == B);
        Entry a = log.Log.Single(e => e.What == "exit" && e.Function == A);
        Entry main = log.Log.Single(e => e.What == "exit" && e.Function == Main);
        Assert.Equal((7UL, 7UL, 130UL), (b.Insns, b.Self, b.Time));
        Assert.Equal((12UL, 5UL), (a.Insns, a.Self));
        Assert.Equal((17UL, 5UL), (main.Insns, main.Self));
        Assert.Equal(110UL, log.Log.Single(e => e.What == "enter" && e.Function == A).Time);
    }

    [Fact]
    public void Recursion_pushes_a_frame_per_call_and_each_return_pops_one()
    {
        var (r, log) = New();
        r.Block(Main, 1, Call(Main, A), 0);
        r.Block(A, 2, Call(A + 0x10, A), 1);       // a(2) -> a(1)
        r.Block(A, 2, Call(A + 0x10, A), 2);       // a(1) -> a(0)
        r.Block(A, 3, Ret(A + 0x40), 3);           // a(0) returns into a(1) after its call
        r.Block(A + 0x15, 1, Ret(A + 0x50), 4);    // a(1) returns into a(2)
        r.Block(A + 0x15, 1, Ret(A + 0x50), 5);    // a(2) returns into main
        r.Block(Main + 5, 1, Plain(Main + 5), 6);
        Assert.Single(r.Frames.ToArray());
        r.End();
        Assert.Equal("enter main TraceStart, enter a, enter a, enter a, exit a Return, exit a Return, exit a Return, exit main Cut", log.Shape);
        Assert.Equal([3UL, 6UL, 9UL], log.Log.Where(e => e.What == "exit" && e.Function == A).Select(e => e.Insns));
        Assert.Equal([1, 2, 3], log.Log.Where(e => e.What == "enter" && e.Function == A).Select(e => e.Depth));
    }

    [Fact]
    public void Longjmp_unwinds_every_frame_between_it_and_the_function_it_lands_in()
    {
        var (r, log) = New();
        r.Block(Main, 2, Call(Main + 0x10, A), 0);        // main -> a
        r.Block(A, 2, Call(A + 0x10, A), 1);              // a -> a
        r.Block(A, 2, Call(A + 0x10, B), 2);              // a -> b
        r.Block(B, 2, Call(B + 0x10, LongJmp), 3);        // b -> longjmp
        r.Block(LongJmp, 9, Jmp(LongJmp + 0x30, 0), 4);   // longjmp: jmp *%rdx, into main past its setjmp
        r.Block(Main + 0x40, 2, Plain(Main + 0x42), 5);
        Assert.Equal([Main], r.Frames.ToArray().Select(f => f.Function));
        r.End();
        Assert.Equal("enter main TraceStart, enter a, enter a, enter b, enter longjmp, exit longjmp Unwind, exit b Unwind, exit a Unwind, exit a Unwind, exit main Cut", log.Shape);
        Assert.Equal(15UL, log.Log.Single(e => e.What == "exit" && e.Function == A && e.Depth == 1).Insns);   // 2 + 2 + 2 + 9
    }

    [Fact]
    public void A_jump_to_another_function_s_entry_is_a_tail_call_that_returns_to_the_caller()
    {
        var (r, log) = New();
        r.Block(Main, 2, Call(Main + 0x10, A), 0);     // main -> a
        r.Block(A, 4, Jmp(A + 0x20, B), 1);            // a: jmp b (tail call)
        r.Block(B, 3, Ret(B + 0x30), 2);               // b returns where a would have
        r.Block(Main + 0x15, 1, Plain(Main + 0x15), 3);
        r.Block(Main + 0x18, 2, Jmp(Main + 0x20, Main + 0x80), 4);   // a jump inside main: nothing
        r.Block(Main + 0x80, 1, Plain(Main + 0x80), 5);
        r.End();
        Assert.Equal("enter main TraceStart, enter a, exit a TailCall, enter b TailCall, exit b Return, exit main Cut", log.Shape);
        Entry b = log.Log.Single(e => e.What == "exit" && e.Function == B);
        Assert.Equal((3UL, 3UL), (b.Insns, b.Self));
        Assert.Equal(1, b.Depth);
    }

    [Fact]
    public void Without_function_ranges_jumps_stay_in_their_frame()
    {
        var (r, log) = New(functions: false);
        r.Block(Main, 2, Call(Main + 0x10, A), 0);
        r.Block(A, 4, Jmp(A + 0x20, B), 1);
        r.Block(B, 3, Ret(B + 0x30), 2);
        r.Block(Main + 0x15, 1, Plain(Main + 0x15), 3);
        r.End();
        Assert.Equal("enter main TraceStart, enter a, exit a Return, exit main Cut", log.Shape);
    }

    [Fact]
    public void A_trace_that_starts_mid_stack_makes_up_the_callers_from_where_it_began()
    {
        var (r, log) = New();
        r.Block(C + 0x40, 5, Ret(C + 0x50), 1000);        // starts inside c, which returns into b
        r.Block(B + 0x20, 3, Ret(B + 0x30), 1010);        // b returns into a
        r.Block(A + 0x60, 2, Call(A + 0x70, C), 1020);    // a calls c again
        r.Block(C, 1, Ret(C + 0x01), 1030);
        r.Block(A + 0x75, 1, Plain(A + 0x75), 1040);
        r.End();
        Assert.Equal("enter c TraceStart, exit c Return, enter b Caller, exit b Return, enter a Caller, enter c, exit c Return, exit a Cut", log.Shape);
        // The made-up callers began where the trace began, and hold what ran before them.
        Entry enterB = log.Log.Single(e => e.What == "enter" && e.Function == B + 0x20);
        Entry enterA = log.Log.Single(e => e.What == "enter" && e.Function == A + 0x60);
        Assert.Equal((1000UL, 0UL), (enterB.Time, enterB.Insns));
        Assert.Equal((1000UL, 0UL), (enterA.Time, enterA.Insns));
        Entry exitB = log.Log.Single(e => e.What == "exit" && e.Function == B + 0x20);
        Assert.Equal((8UL, 3UL), (exitB.Insns, exitB.Self));
        Entry exitA = log.Log.Single(e => e.What == "exit" && e.Function == A + 0x60);
        Assert.Equal((12UL, 3UL, 1040UL), (exitA.Insns, exitA.Self, exitA.Time));
    }

    [Fact]
    public void A_signal_handler_is_a_frame_of_its_own_that_leaves_at_its_return()
    {
        var (r, log) = New();
        r.Block(Main, 3, Call(Main + 0x10, A), 0);
        r.Block(A, 2, Syscall(A + 0x08), 1);                 // a: kill(getpid(), SIGUSR1)
        r.Event(new PtEvent { Type = PtEventType.Disabled, IpSuppressed = true }, 2);
        r.Event(new PtEvent { Type = PtEventType.Enabled, Ip = Handler }, 3);
        r.Block(Handler, 6, Ret(Handler + 0x20), 4);         // the handler returns into the restorer
        r.Block(Restorer, 2, Syscall(Restorer + 0x07), 5);   // rt_sigreturn
        r.Event(new PtEvent { Type = PtEventType.Disabled, IpSuppressed = true }, 6);
        r.Event(new PtEvent { Type = PtEventType.Enabled, Ip = A + 0x0a }, 7);
        r.Block(A + 0x0a, 1, Ret(A + 0x0b), 8);              // back in a, after its system call
        r.Block(Main + 0x15, 1, Plain(Main + 0x15), 9);
        r.End();
        Assert.Equal("enter main TraceStart, enter a, enter handler Async, exit handler Return, exit a Return, exit main Cut", log.Shape);
        Assert.Equal(6UL, log.Log.Single(e => e.What == "exit" && e.Function == Handler).Insns);
        Assert.Equal(2, log.Log.Single(e => e.What == "enter" && e.Function == Handler).Depth);
        Assert.Equal(11UL, log.Log.Single(e => e.What == "exit" && e.Function == A).Insns);
    }

    [Fact]
    public void A_system_call_that_resumes_after_itself_changes_nothing()
    {
        var (r, log) = New();
        r.Block(Main, 3, Call(Main + 0x10, A), 0);
        r.Block(A, 2, Syscall(A + 0x08), 1);
        r.Event(new PtEvent { Type = PtEventType.Disabled, IpSuppressed = true }, 2);
        r.Event(new PtEvent { Type = PtEventType.Enabled, Ip = A + 0x0a }, 3);
        r.Block(A + 0x0a, 1, Ret(A + 0x0b), 4);
        r.Block(Main + 0x15, 1, Plain(Main + 0x15), 5);
        r.End();
        Assert.Equal("enter main TraceStart, enter a, exit a Return, exit main Cut", log.Shape);
    }

    [Fact]
    public void Gaps_and_overflows_close_every_open_frame_at_the_last_time_and_are_marked()
    {
        var (r, log) = New();
        r.Block(Main, 3, Call(Main + 0x10, A), 10);
        r.Block(A, 2, Plain(A + 0x02), 20);
        r.Gap();
        r.Block(B + 0x10, 4, Call(B + 0x18, C), 50);
        r.Block(C, 1, Plain(C), 60);
        r.Event(new PtEvent { Type = PtEventType.Overflow, IpSuppressed = true }, 70);
        r.Block(A + 0x30, 1, Plain(A + 0x30), 80);
        r.End();
        Assert.Equal("enter main TraceStart, enter a, exit a Cut, exit main Cut, mark Gap, enter b TraceStart, enter c, exit c Cut, exit b Cut, mark Overflow, enter a TraceStart, exit a Cut", log.Shape);
        Assert.All(log.Log.Where(e => e.What == "exit" && e.Function is Main or A && e.Time < 50), e => Assert.Equal(20UL, e.Time));
        Assert.Equal(70UL, log.Log.Single(e => e.What == "exit" && e.Function == C).Time);
    }

    [Fact]
    public void A_call_to_the_next_instruction_only_reads_the_instruction_pointer()
    {
        var (r, log) = New();
        r.Block(Main, 2, Call(Main + 0x10, Main + 0x15), 0);
        r.Block(Main + 0x15, 2, Plain(Main + 0x17), 1);
        r.End();
        Assert.Equal("enter main TraceStart, exit main Cut", log.Shape);
    }

    [Fact]
    public void Time_never_goes_backwards()
    {
        var (r, log) = New();
        r.Block(Main, 1, Call(Main, A), 100);
        r.Block(A, 1, Ret(A), 90);
        r.Block(Main + 5, 1, Plain(Main + 5), 95);
        r.End();
        Assert.True(log.Log.Select(e => e.Time).SequenceEqual(log.Log.Select(e => e.Time).Order()));
    }

    private sealed class NoSink : ICallSink
    {
        public long Calls;
        public void OnEnter(in CallFrame frame) => Calls++;
        public void OnExit(in CallFrame frame, in CallExit exit) { }
        public void OnMark(CallMarkKind kind, ulong time, ulong ip) { }
    }

    [Fact]
    public void Blocks_allocate_nothing_once_the_stack_has_grown()
    {
        var sink = new NoSink();
        var r = new CallStackReconstructor(sink, new Functions());
        ulong t = 0;
        void Round()
        {
            // main calls a, a tail-calls b, b calls c recursively 100 deep, all return; a longjmp-like jump back.
            r.Block(Main, 2, Call(Main + 0x10, A), t++);
            r.Block(A, 2, Jmp(A + 0x10, B), t++);
            for (int i = 0; i < 100; i++) r.Block(i == 0 ? B : C, 2, Call(C + 0x10, C), t++);
            r.Block(C, 2, Ret(C + 0x20), t++);
            for (int i = 0; i < 99; i++) r.Block(C + 0x15, 1, Ret(C + 0x20), t++);
            r.Block(C + 0x15, 1, Jmp(C + 0x30, Main + 0x40), t++);
            r.Block(Main + 0x40, 1, Jmp(Main + 0x50, Main), t++);
        }
        Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(sink.Calls > 100_000);
    }
}
