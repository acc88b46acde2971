using DotnetPtrace.Decoders.Calls;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Tests.Calls;

/// <summary>
/// Calling-context trees and the profile built from reconstructed calls, on hand-made block sequences whose costs
/// are known by construction (each function 0x100 bytes at its own 0x1000 boundary).
/// </summary>
public sealed class PtProfileTests
{
    private static string Name(ulong ip) => (ip >> 12) switch { 1 => "main", 2 => "f", 3 => "g", _ => "?" };

    private sealed class Functions : IFunctionResolver
    {
        public bool TryGetFunction(ulong ip, out ulong start, out ulong end)
        {
            start = ip & ~0xfffUL;
            end = start + 0x100;
            return ip < end;
        }
    }

    private static PtInsn Call(ulong at, ulong target) => new(at, 5, PtInsnClass.Call, PtInsnExt.None, true, target);
    private static PtInsn Ret(ulong at) => new(at, 1, PtInsnClass.Return, PtInsnExt.None, false, 0);
    private static PtInsn Plain(ulong at) => new(at, 3, PtInsnClass.Other, PtInsnExt.None, false, 0);

    /// <summary>main (2) -> f (3) -> f (4) -> g (5); back in f (1), f (1); main calls g (7); main (1). Times: one ns per instruction.</summary>
    private static PtProfile Run()
    {
        var builder = new CallTreeBuilder(Name);
        var r = new CallStackReconstructor(builder, new Functions());
        ulong t = 0;
        void Block(ulong ip, int n, PtInsn last)
        {
            r.Block(ip, n, last, t);
            t += (ulong)n;
        }
        Block(0x1000, 2, Call(0x1010, 0x2000));
        Block(0x2000, 3, Call(0x2010, 0x2000));
        Block(0x2000, 4, Call(0x2020, 0x3000));
        Block(0x3000, 5, Ret(0x3050));
        Block(0x2025, 1, Ret(0x2026));
        Block(0x2015, 1, Ret(0x2016));
        Block(0x1015, 0 + 1, Call(0x1020, 0x3000));
        Block(0x3000, 7, Ret(0x3050));
        Block(0x1025, 1, Plain(0x1025));
        r.Block(0x1028, 1, Plain(0x1028), t);   // the last block's time closes the frames
        r.End();
        var profile = new PtProfile();
        profile.Add(1, 1, "test", builder.Finish());
        return profile;
    }

    [Fact]
    public void Folded_stacks_hold_each_path_once_with_its_self_instructions()
    {
        var folded = Run().Folded().ToDictionary(f => string.Join(';', f.Stack), f => (f.Instructions, f.Nanoseconds));
        Assert.Equal(new Dictionary<string, (ulong, ulong)>
        {
            ["main"] = (2 + 1 + 1 + 1, 2 + 1 + 1 + 0),   // the last block's own time is after the trace's end: not counted
            ["main;f"] = (3 + 1, 3 + 1),
            ["main;f;f"] = (4 + 1, 4 + 1),
            ["main;f;f;g"] = (5, 5),
            ["main;g"] = (7, 7),
        }, folded);
    }

    [Fact]
    public void Functions_count_a_recursive_function_s_total_once()
    {
        var functions = Run().Functions().ToDictionary(f => f.Name);
        Assert.Equal((2UL, 9UL, 14UL), (functions["f"].Calls, functions["f"].SelfInstructions, functions["f"].Instructions));
        Assert.Equal((2UL, 12UL, 12UL), (functions["g"].Calls, functions["g"].SelfInstructions, functions["g"].Instructions));
        Assert.Equal((5UL, 26UL), (functions["main"].SelfInstructions, functions["main"].Instructions));
        Assert.Equal("g", Run().Functions()[0].Name);   // hottest by self instructions
    }

    [Fact]
    public void A_made_up_caller_adopts_what_ran_before_it()
    {
        var builder = new CallTreeBuilder(Name);
        var r = new CallStackReconstructor(builder, new Functions());
        r.Block(0x3040, 5, Ret(0x3050), 0);          // starts in g, which returns into f
        r.Block(0x2030, 2, Ret(0x2040), 5);          // f returns into main
        r.Block(0x1030, 1, Plain(0x1030), 7);
        r.End();
        var profile = new PtProfile();
        profile.Add(1, 1, null, builder.Finish());
        var folded = profile.Folded().ToDictionary(f => string.Join(';', f.Stack), f => f.Instructions);
        Assert.Equal(new Dictionary<string, ulong> { ["main"] = 1, ["main;f"] = 2, ["main;f;g"] = 5 }, folded);
    }
}
