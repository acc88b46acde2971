using System.Globalization;
using DotnetPtrace.Native.Events;
using DotnetPtrace.Native.Events.AddressFilters;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.Record;
using DotnetPtrace.Tests.SoftPtEncoder;

namespace DotnetPtrace.Tests.AuxRecording;

/// <summary>
/// Real Intel PT, end to end: `record -e intel_pt//u` of a deterministic program (static, not PIE, no libc: the same
/// addresses every run) must decode, by Linux perf, to the instruction flow `record --soft-pt` gives for it (the
/// single-stepped ground truth), in full-trace, snapshot and per-thread mode; an address filter must leave only the
/// filtered function. These need an intel_pt PMU and skip with the reason everywhere else.
/// </summary>
[Collection("live recording")]
public sealed class RealIntelPtTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _scratch = new();
    public void Dispose() => _scratch.Dispose();

    private string? Missing()
    {
        if (!Directory.Exists(Path.Combine(PmuCatalog.DefaultRoot, IntelPtDefaultConfig.PmuName)))
            return $"no intel_pt PMU: {IntelPtAvailability.WhyMissing()}";
        return SoftPtTestSupport.MissingPrerequisite() ?? (File.Exists(Perf.Executable) ? null : "Linux perf is not installed");
    }

    private static string Program => Path.Combine(Path.GetDirectoryName(SoftPtTestSupport.Stepper)!, "softpt_program");

    private List<ulong> RecordAndDecode(string name, params string[] recordArgs)
    {
        string file = _scratch.File(name + ".data");
        var r = Tool.Run(["record", "-o", file, .. recordArgs, "--", Program], TimeSpan.FromSeconds(300));
        output.WriteLine($"record {string.Join(' ', recordArgs)}: {r}");
        Assert.True(r.ExitCode == 0, $"record failed: {r.Stderr}");
        var script = Perf.Run("script", "-i", file, "--itrace=i0ns", "-F", "ip");
        Perf.AssertClean(script, allowLost: false);
        var errors = Perf.Run("script", "-i", file, "--itrace=e");
        Assert.Equal("", errors.Stdout.Trim());
        return script.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => ulong.Parse(l.Trim(), NumberStyles.HexNumber)).ToList();
    }

    private List<ulong> GroundTruth() => RecordAndDecode("soft", "--soft-pt");

    [Fact]
    public void Full_trace_decodes_to_the_soft_pt_flow()
    {
        if (Missing() is { } why) { output.WriteLine($"skipped: {why}"); return; }
        SoftPtTestSupport.AssertSameAddresses([.. GroundTruth()], RecordAndDecode("hw", "-e", "intel_pt//u"), "intel_pt//u vs --soft-pt");
    }

    [Fact]
    public void Per_thread_full_trace_decodes_to_the_soft_pt_flow()
    {
        if (Missing() is { } why) { output.WriteLine($"skipped: {why}"); return; }
        SoftPtTestSupport.AssertSameAddresses([.. GroundTruth()], RecordAndDecode("hw-thread", "-e", "intel_pt//u", "--per-thread"), "--per-thread vs --soft-pt");
    }

    [Fact]
    public void A_snapshot_at_exit_holds_the_end_of_the_soft_pt_flow()
    {
        if (Missing() is { } why) { output.WriteLine($"skipped: {why}"); return; }
        var truth = GroundTruth();
        var snapshot = RecordAndDecode("hw-snapshot", "-e", "intel_pt//u", "--snapshot", "-m", ",1024");
        Assert.NotEmpty(snapshot);
        // A 4 MiB buffer holds this small program's whole trace; in any case a snapshot is a tail of the flow.
        SoftPtTestSupport.AssertSameAddresses([.. truth.Skip(truth.Count - snapshot.Count)], snapshot, "snapshot vs the end of --soft-pt");
    }

    [Fact]
    public void An_address_filter_leaves_only_the_filtered_function()
    {
        if (Missing() is { } why) { output.WriteLine($"skipped: {why}"); return; }
        var leaf = ElfFunctionTable.Load(Program).Named("leaf").Single();
        var filtered = RecordAndDecode("hw-filter", "-e", "intel_pt//u", "--filter", $"filter leaf @ {Program}");
        Assert.NotEmpty(filtered);
        Assert.All(filtered, ip => Assert.InRange(ip, leaf.Address, leaf.Address + leaf.Size - 1));
        var inLeaf = GroundTruth().Where(ip => ip >= leaf.Address && ip < leaf.Address + leaf.Size).ToList();
        Assert.Equal(inLeaf, filtered);
    }
}
