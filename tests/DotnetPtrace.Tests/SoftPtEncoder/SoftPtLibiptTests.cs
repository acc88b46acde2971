using DotnetPtrace.Decoders.IntelPt;
using DotnetPtrace.Decoders.SoftPt;
using Xunit.Abstractions;
using static DotnetPtrace.Tests.SoftPtEncoder.SoftPtTestSupport;

namespace DotnetPtrace.Tests.SoftPtEncoder;

/// <summary>
/// Ground truth (a real single-stepped run of real machine code, by a ptrace stepper independent of the project)
/// encoded as Intel PT by <see cref="Decoders.SoftPt.SoftPtEncoder"/>, decoded by libipt's instruction flow decoder:
/// the decoded instruction addresses must be exactly the executed ones, with no decode error, for every option that
/// changes the packets; and libipt's time for each instruction must never go backwards, never run ahead of the
/// clock, and lag it by no more than the timing packets allow.
/// </summary>
public sealed class SoftPtLibiptTests(ITestOutputHelper output)
{
    public static TheoryData<string> Programs => ["softpt_program", "softpt_libc"];

    private sealed record Variant(string Name, SoftPtOptions Options, bool Gaps = false);

    /// <summary>Return compression on/off x PSB period smallest/largest x timing packets; TNT-64; CYC alone; clock gaps.</summary>
    private static readonly Variant[] Variants = BuildVariants();

    private static Variant[] BuildVariants()
    {
        var v = new List<Variant>();
        foreach (bool retComp in new[] { true, false })
            foreach (int psb in new[] { 0, 15 })
                foreach (var (timing, tsc, mtc, cyc) in new[] { ("notime", false, false, false), ("tsc", true, false, false), ("tsc-mtc", true, true, false), ("tsc-mtc-cyc", true, true, true) })
                    v.Add(new($"{(retComp ? "retcomp" : "noretcomp")}-psb{psb}-{timing}",
                        new SoftPtOptions { RetCompression = retComp, PsbPeriod = psb, Tsc = tsc, Mtc = mtc, Cyc = cyc }));
        v.Add(new("tnt64-psb0-tsc-mtc-cyc", new SoftPtOptions { LongTnt = true, PsbPeriod = 0, Cyc = true }));
        v.Add(new("cyc-only-psb0", new SoftPtOptions { Tsc = false, Mtc = false, Cyc = true, PsbPeriod = 0, MtcPeriod = 0 }));
        v.Add(new("mtc-period0-cyc", new SoftPtOptions { MtcPeriod = 0, Cyc = true }));
        v.Add(new("mtc-period9-ratio7", new SoftPtOptions { MtcPeriod = 9, CtcRatioNumerator = 21, CtcRatioDenominator = 3, TscPerStep = 3 }));
        v.Add(new("gaps-tsc-mtc", new SoftPtOptions(), Gaps: true));
        v.Add(new("gaps-tsc-mtc-cyc", new SoftPtOptions { Cyc = true, PsbPeriod = 0 }, Gaps: true));
        v.Add(new("gaps-tsc", new SoftPtOptions { Mtc = false }, Gaps: true));
        v.Add(new("gaps-mtc-without-tsc", new SoftPtOptions { Tsc = false }, Gaps: true));
        v.Add(new("defaults", new SoftPtOptions()));
        return [.. v];
    }

    [Theory]
    [MemberData(nameof(Programs))]
    public void Every_option_set_decodes_to_the_ground_truth_with_time_that_follows_the_clock(string program)
    {
        if (MissingPrerequisite() is { } missing)
        {
            output.WriteLine($"skipped: {missing}");
            return;
        }
        var run = SoftPtTestSupport.Record(program);
        ulong[] truth = run.Instructions;
        output.WriteLine($"{program}: {truth.Length} instructions single-stepped");
        var gapped = WithClockGaps(run.Thread);
        var tips = new Dictionary<string, long>();
        Parallel.ForEach(Variants, new ParallelOptions { MaxDegreeOfParallelism = 2 }, variant =>
        {
            var thread = variant.Gaps ? gapped : run.Thread;
            var (pt, stats) = Encode(run, variant.Options, thread);
            var decoded = DecodeWithLibipt(run, pt, variant.Options, $"{program}-{variant.Name}");
            Assert.True(decoded.Errors.Count == 0, $"{program} {variant.Name}: libipt reports {string.Join("; ", decoded.Errors.Take(5))}");
            AssertSameAddresses(truth, decoded.Instructions.Select(i => i.Ip).ToList(), $"{program} {variant.Name}");
            Assert.Equal(truth.Length, stats.Instructions);
            string time = variant.Options.Tsc ? AssertTimeFollowsClock(thread, variant.Options, decoded, $"{program} {variant.Name}") : "";
            lock (tips)
            {
                tips[variant.Name] = stats.PacketCount(PtPacketKind.Tip);
                output.WriteLine($"  {variant.Name}: {stats}{time}");
            }
        });
        // Return compression is in effect: the same run needs fewer TIPs with it than without.
        Assert.True(tips["retcomp-psb15-notime"] < tips["noretcomp-psb15-notime"],
            $"return compression saved no TIP ({tips["retcomp-psb15-notime"]} vs {tips["noretcomp-psb15-notime"]})");
    }

    /// <summary>
    /// The same steps on a clock that stops now and then: jumps of 5,000 ticks (a descheduled thread) every 700
    /// steps, and of 50 ticks (less than an MTC period of TSC) every 300.
    /// </summary>
    private static ThreadExecution WithClockGaps(ThreadExecution thread)
    {
        var copy = new ThreadExecution { Pid = thread.Pid, Tid = thread.Tid, AddressSpaceId = thread.AddressSpaceId };
        foreach (ulong s in thread.Steps.AsSpan()) copy.Steps.Add(s);
        long time = 0;
        for (int i = 0; i < copy.Steps.Count; i++)
        {
            if (i % 700 == 350) time += 5000;
            else if (i % 300 == 150) time += 50;
            if (i % 700 == 350 || i % 300 == 150) copy.Clock.Add((i, time));
            time++;
        }
        if (copy.Clock.Count == 0 || copy.Clock[0].Index != 0) copy.Clock.Insert(0, (0, 0));
        return copy;
    }

    /// <summary>
    /// libipt's time (pt_insn_time: the time at the last packet its query decoder handed out) for each instruction i:
    /// <list type="bullet">
    /// <item>never decreasing;</item>
    /// <item>never later than the clock of the next instruction after i that needs trace (a conditional branch, a
    /// return, a far transfer or kernel entry). libipt looks at the next event (a TIP.PGD, a PSB+, a TIP.PGE) as
    /// soon as its TNT bits run out, and dates the instructions up to it with the timing packets that precede it:
    /// the packets are exact, the attribution is libipt's;</item>
    /// <item>no earlier than what the packets carry for the first branch of the TNT packet that holds i's latest
    /// branch, at most 6 (TNT-64: 47) conditional branches or returns back: with CYC that branch's TSC exactly, with
    /// MTC the MTC period boundary before it, with TSC alone the first TSC.</item>
    /// </list>
    /// </summary>
    private static string AssertTimeFollowsClock(ThreadExecution thread, SoftPtOptions options, LibiptResult decoded, string what)
    {
        var steps = thread.Steps.AsSpan();
        var stepIndex = new List<int>();
        for (int i = 0; i < steps.Length; i++)
            if (!StepMarker.IsMarker(steps[i])) stepIndex.Add(i);
        var insns = decoded.Instructions;
        ulong ClockOf(int i) => options.TscOf(thread.TimeOf(stepIndex[i]));
        var nextTraced = new int[insns.Count];
        int next = insns.Count - 1;
        for (int i = insns.Count - 1; i >= 0; i--)
        {
            nextTraced[i] = Math.Max(next, Math.Min(i + 1, insns.Count - 1));
            if (insns[i].IClass is LibiptInstruction.CondJump or LibiptInstruction.Return or >= LibiptInstruction.FarCall) next = i;
        }
        int window = options.LongTnt ? 47 : 6;
        var branches = new Queue<int>();
        ulong previous = 0, first = ClockOf(0);
        ulong period = options.TscPerMtcPeriod;
        long exact = 0, lagSum = 0;
        for (int i = 0; i < insns.Count; i++)
        {
            var insn = insns[i];
            Assert.True(insn.Time.HasValue, $"{what}: instruction {i} ({insn.Ip:x}) has no time");
            ulong t = insn.Time!.Value;
            ulong upper = ClockOf(nextTraced[i]);
            Assert.True(t >= previous, $"{what}: time goes back at instruction {i} ({insn.Ip:x}): {previous:x} then {t:x}");
            Assert.True(t <= upper, $"{what}: instruction {i} ({insn.Ip:x}) is given time {t:x}, later than {upper:x}, the clock of instruction {nextTraced[i]}");
            if (insn.IClass is LibiptInstruction.CondJump or LibiptInstruction.Return)
            {
                branches.Enqueue(i);
                if (branches.Count > window) branches.Dequeue();
            }
            int reference = branches.Count == window ? branches.Peek() : 0;
            ulong at = ClockOf(reference);
            ulong lower = options.Cyc ? at : options.Mtc ? at / period * period : first;
            Assert.True(t >= lower,
                $"{what}: instruction {i} ({insn.Ip:x}) is given time {t:x}, earlier than {lower:x} (instruction {reference})");
            previous = t;
            ulong clock = ClockOf(i);
            if (t == clock) exact++;
            else if (t < clock) lagSum += (long)(clock - t);
        }
        return $"; libipt time = clock for {100.0 * exact / insns.Count:F1}% of instructions, mean lag {(double)lagSum / insns.Count / options.TscPerStep:F1} steps";
    }
}
