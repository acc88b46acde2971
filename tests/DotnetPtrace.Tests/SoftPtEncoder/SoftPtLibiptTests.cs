using DotnetPtrace.Decoders.SoftPt;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtEncoder;

/// <summary>
/// Ground truth (a real single-stepped run of real machine code, by a ptrace stepper independent of the project)
/// encoded as Intel PT by <see cref="Decoders.SoftPt.SoftPtEncoder"/>, decoded by libipt's instruction flow decoder:
/// the decoded instruction addresses must be exactly the executed ones, with no decode error, for every option that
/// changes the packets.
/// </summary>
public sealed class SoftPtLibiptTests(ITestOutputHelper output)
{
    public static TheoryData<string> Programs => ["softpt_program", "softpt_libc"];

    /// <summary>Option sets: return compression on/off x PSB period smallest/largest x timing packets, plus TNT-64 and no timing at all.</summary>
    public static TheoryData<string> OptionSets => [.. Variants.Keys];

    private static readonly Dictionary<string, SoftPtOptions> Variants = BuildVariants();

    private static Dictionary<string, SoftPtOptions> BuildVariants()
    {
        var v = new Dictionary<string, SoftPtOptions>();
        foreach (bool retComp in new[] { true, false })
            foreach (int psb in new[] { 0, 15 })
                foreach (var (timing, tsc, mtc, cyc) in new[] { ("notime", false, false, false), ("tsc", true, false, false), ("tsc-mtc", true, true, false), ("tsc-mtc-cyc", true, true, true) })
                    v[$"{(retComp ? "retcomp" : "noretcomp")}-psb{psb}-{timing}"] = new SoftPtOptions
                    {
                        RetCompression = retComp, PsbPeriod = psb, Tsc = tsc, Mtc = mtc, Cyc = cyc,
                    };
        v["tnt64-psb0-tsc-mtc-cyc"] = new SoftPtOptions { LongTnt = true, PsbPeriod = 0, Cyc = true };
        v["mtc0-psb0-cyc-only"] = new SoftPtOptions { Tsc = false, Mtc = false, Cyc = true, PsbPeriod = 0, MtcPeriod = 0 };
        v["defaults"] = new SoftPtOptions();
        return v;
    }

    [Theory]
    [MemberData(nameof(Programs))]
    public void Every_option_set_decodes_to_the_ground_truth(string program)
    {
        if (SoftPtTestSupport.MissingPrerequisite() is { } missing)
        {
            output.WriteLine($"skipped: {missing}");
            return;
        }
        var run = SoftPtTestSupport.Record(program);
        ulong[] truth = run.Instructions;
        output.WriteLine($"{program}: {truth.Length} instructions single-stepped");
        foreach (var (name, options) in Variants)
        {
            var (pt, stats) = SoftPtTestSupport.Encode(run, options);
            var decoded = SoftPtTestSupport.DecodeWithLibipt(run, pt, options, $"{program}-{name}");
            Assert.True(decoded.Errors.Count == 0, $"{program} {name}: libipt reports {string.Join("; ", decoded.Errors.Take(5))}");
            SoftPtTestSupport.AssertSameAddresses(truth, decoded.Instructions.Select(i => i.Ip).ToList(), $"{program} {name}");
            Assert.Equal(truth.Length, stats.Instructions);
            output.WriteLine($"  {name}: {stats}");
        }
    }
}
