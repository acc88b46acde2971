using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>`dotnet-ptrace dump --pt` and `dump --aux` as a user runs them, against libipt's goldens and perf.</summary>
public class DumpCommandPtTests(ITestOutputHelper output)
{
    private static string? PerfDataDir => PtTestSupport.PtRealDir is { } pt ? Path.Combine(pt, "..", "perf-data") : null;

    private static string Body(string dump, int idx)
    {
        var lines = dump.Split('\n');
        int start = Array.FindIndex(lines, l => l.StartsWith($"# AUX stream idx {idx},", StringComparison.Ordinal));
        Assert.True(start >= 0, $"no AUX stream idx {idx} in the dump");
        int end = Array.FindIndex(lines, start + 1, l => l.StartsWith("# AUX stream", StringComparison.Ordinal));
        return string.Join('\n', lines[(start + 1)..(end < 0 ? lines.Length : end)]).TrimEnd('\n') + "\n";
    }

    [Fact]
    public void Dump_pt_reproduces_ptdump()
    {
        if (PtTestSupport.PtRealDir is not { } root) { output.WriteLine("skipped: ../shared/testdata is absent"); return; }
        var r = Tool.Run(["dump", "--pt", Path.Combine(root, "Unzip", "trace.pt")]);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(PtTestSupport.ReadGolden(Path.Combine(root, "Unzip", "ptdump.txt")), r.Stdout);
    }

    [Fact]
    public void Dump_aux_of_a_real_perf_recording_equals_the_goldens_of_its_extracted_streams()
    {
        if (PtTestSupport.PtRealDir is not { } root || PerfDataDir is not { } data) { output.WriteLine("skipped: ../shared/testdata is absent"); return; }
        var r = Tool.Run(["dump", "-i", Path.Combine(data, "perf.data.intel_pt-4.14"), "--aux", "--lastip", "--exec-mode"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("# AUX stream idx 0, cpu 0, tid 3174: 12240 bytes in 1 AUXTRACE records", r.Stdout);
        Assert.Equal(PtTestSupport.ReadGolden(Path.Combine(root, "skylake-perf-4.14", "aux-cpu0.ptdump.txt")), Body(r.Stdout, 0));
        Assert.Equal(PtTestSupport.ReadGolden(Path.Combine(root, "skylake-perf-4.14", "aux-cpu3.ptdump.txt")), Body(r.Stdout, 3));
    }

    /// <summary>The pipe-mode twin is another recording (no golden): its first stream's PSBs sit where perf finds them.</summary>
    [Fact]
    public void Dump_aux_of_a_pipe_mode_file_finds_the_psbs_perf_finds()
    {
        if (PerfDataDir is not { } data) { output.WriteLine("skipped: ../shared/testdata is absent"); return; }
        string file = Path.Combine(data, "perf.data.piped.intel_pt-4.14");
        var r = Tool.Run(["dump", "-i", file, "--aux"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var ours = Regex.Matches(Body(r.Stdout, 0), @"^([0-9a-f]{16})\s+psb\s*$", RegexOptions.Multiline).Select(m => Convert.ToInt64(m.Groups[1].Value, 16)).ToList();
        // perf -D dumps the first AUX buffer of this pipe file: ".  000043a0:  02 82 ... PSB".
        var perf = Perf.Run("script", "-i", file, "-D");
        var theirs = Regex.Matches(perf.Stdout, @"^\.\s+([0-9a-f]{8}):\s+(?:02 82 ){8}PSB\s*$", RegexOptions.Multiline).Select(m => Convert.ToInt64(m.Groups[1].Value, 16)).ToList();
        Assert.NotEmpty(ours);
        // perf 6.1 reads a pipe-mode payload 16 bytes early: the first "trace" bytes it shows are the AUXTRACE
        // record's own idx, tid, cpu and reserved fields (00000000 030e0000 00000000 00000000 for tid 3587).
        // Our stream starts at the payload, with its PSB at 0 as in file mode; every PSB is 16 bytes apart from perf's.
        Assert.Matches(@"\.\s+00000000:\s+00 00 00 00\s+PAD\s*\n\.\s+00000004:\s+03\s+CYC", perf.Stdout);
        Assert.Equal(theirs, ours.Select(o => o + 16).ToList());
    }

    [Fact]
    public void Pt_and_aux_together_is_a_usage_error()
    {
        var r = Tool.Run(["dump", "--pt", "x.pt", "--aux"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("give one", r.Stderr);
    }

    /// <summary>
    /// --aux --time takes the timing configuration from the recording (MTC frequency from the intel_pt config, TSC:CTC
    /// and nominal ratio from AUXTRACE_INFO): the same output as the raw stream dumped with that configuration given
    /// by hand (the values in ../shared/testdata/README.md), and different from the raw stream without it.
    /// </summary>
    [Fact]
    public void Dump_aux_time_uses_the_recordings_timing_configuration()
    {
        if (PtTestSupport.PtRealDir is not { } root || PerfDataDir is not { } data) { output.WriteLine("skipped: ../shared/testdata is absent"); return; }
        string raw = Path.Combine(root, "skylake-perf-4.14", "aux-cpu0.pt");
        var fromFile = Tool.Run(["dump", "-i", Path.Combine(data, "perf.data.intel_pt-4.14"), "--aux", "--time"]);
        var byHand = Tool.Run(["dump", "--pt", raw, "--time", "--mtc-freq", "3", "--cpuid-0x15.eax", "2", "--cpuid-0x15.ebx", "100", "--nom-freq", "12"]);
        var without = Tool.Run(["dump", "--pt", raw, "--time"]);
        Assert.Equal(0, fromFile.ExitCode);
        Assert.Contains(" tsc  ", byHand.Stdout);
        Assert.Equal(byHand.Stdout, Body(fromFile.Stdout, 0));
        Assert.NotEqual(without.Stdout, byHand.Stdout);
    }
}
