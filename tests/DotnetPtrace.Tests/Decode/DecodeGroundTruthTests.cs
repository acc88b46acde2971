using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Decode;

/// <summary>
/// `decode -i` on perf.data files of `record --soft-pt` against two oracles nobody on the team wrote: the
/// single-stepped ground truth (every executed address of every thread, from ptrace) and Linux perf's own Intel PT
/// decoder on the same file. Samples cover threads, fork and exec, signals, system calls, the vDSO; timed (tsc, mtc)
/// and timeless traces; frequent PSBs without return compression.
/// </summary>
public sealed partial class DecodeGroundTruthTests(ITestOutputHelper log)
{
    private const string Timeless = "intel_pt/tsc=0,mtc=0/";

    public static TheoryData<string, string, string> Samples => new()
    {
        { "control_flow", "", "" },
        { "vdso", "", "" },
        { "threads", "", "" },
        { "fork_exec", "syscalls 5", "" },
        { "signals", "", "" },
        { "syscalls", "40", "" },
        { "threads", "", Timeless },
        { "fork_exec", "syscalls 5", Timeless },
        { "control_flow", "", "intel_pt/noretcomp,psb_period=0/" },
    };

    private static SoftPtRecordings.Recording Record(string sample, string args, string events) =>
        SoftPtRecordings.Get(sample, args.Split(' ', StringSplitOptions.RemoveEmptyEntries), events.Length == 0 ? null : events);

    [Theory]
    [MemberData(nameof(Samples))]
    public void Addresses_equal_the_ground_truth(string sample, string args, string events)
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = Record(sample, args, events);
        string truth = File.ReadAllText(rec.GroundTruth);

        // The whole file: every thread, "# pid P tid T" before each, in the order the recording lists them.
        var r = Tool.Run(["decode", "-i", rec.Data, "--format", "addresses"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        List<ThreadFlow> expected = SoftPtRecordings.ParseFlows(truth), decoded = SoftPtRecordings.ParseFlows(r.Stdout);
        Assert.Equal(expected.Select(t => (t.Pid, t.Tid)), decoded.Select(t => (t.Pid, t.Tid)));
        for (int i = 0; i < expected.Count; i++)
            SoftPtRecordings.AssertSameAddresses(expected[i].Addresses, decoded[i].Addresses, $"{sample} tid {expected[i].Tid}");
        Assert.Equal(truth, r.Stdout);
        Assert.Contains(" 0 errors, 0 gaps", r.Stderr);

        // One thread at a time: only its addresses, no header.
        foreach (ThreadFlow t in expected)
        {
            var one = Tool.Run(["decode", "-i", rec.Data, "--format", "addresses", "--tid", t.Tid.ToString(CultureInfo.InvariantCulture)]);
            Assert.True(one.ExitCode == 0, one.ToString());
            string want = string.Concat(t.Addresses.Select(a => a.ToString("x", CultureInfo.InvariantCulture) + "\n"));
            Assert.True(want == one.Stdout, $"--tid {t.Tid}: output differs from the ground truth of that thread");
        }
        log.WriteLine($"{sample} {args} {events}: {string.Join(", ", expected.Select(t => $"tid {t.Tid}: {t.Addresses.Count} instructions"))} equal the ground truth");
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Perf_decodes_the_same_addresses(string sample, string args, string events)
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = Record(sample, args, events);
        var r = Tool.Run(["decode", "-i", rec.Data, "--format", "addresses"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        List<ThreadFlow> ours = SoftPtRecordings.ParseFlows(r.Stdout);

        // perf's flow per thread, split where perf reports an instruction trace error.
        var p = Perf.Run("script", "-i", rec.Data, "--itrace=i0nse", "-F", "tid,ip");
        Assert.True(p.ExitCode == 0, p.ToString());
        var pieces = new Dictionary<int, List<List<ulong>>>();
        var errors = new Dictionary<int, List<string>>();
        foreach (string line in p.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (PerfError().Match(line) is { Success: true } e)
            {
                int tid = int.Parse(e.Groups[1].Value, CultureInfo.InvariantCulture);
                errors.TryAdd(tid, []);
                errors[tid].Add(line.Trim());
                pieces.TryAdd(tid, [[]]);
                pieces[tid].Add([]);
                continue;
            }
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int t = int.Parse(f[0], CultureInfo.InvariantCulture);
            pieces.TryAdd(t, [[]]);
            pieces[t][^1].Add(ulong.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        foreach (ThreadFlow t in ours)
        {
            List<List<ulong>> perf = pieces.GetValueOrDefault(t.Tid) ?? [[]];
            if (!errors.ContainsKey(t.Tid))
            {
                SoftPtRecordings.AssertSameAddresses(t.Addresses, perf[0], $"{sample} tid {t.Tid}: perf");
                log.WriteLine($"tid {t.Tid}: perf and we decode the same {t.Addresses.Count} instructions");
                continue;
            }
            // Where perf gives up (and resyncs), each stretch it does decode must be ours, in order.
            int at = 0;
            foreach (List<ulong> piece in perf.Where(x => x.Count > 0))
            {
                int found = IndexOf(t.Addresses, piece, at);
                Assert.True(found >= 0, $"tid {t.Tid}: a stretch of {piece.Count} instructions perf decodes (from {piece[0]:x}) is not in our flow after #{at}");
                at = found + piece.Count;
            }
            log.WriteLine($"tid {t.Tid}: perf reports {errors[t.Tid].Count} error(s) ({errors[t.Tid][0]}); the {perf.Sum(x => x.Count)} instructions it decodes are in our flow of {t.Addresses.Count}, which equals the ground truth");
        }
    }

    private static int IndexOf(List<ulong> flow, List<ulong> piece, int from)
    {
        for (int i = from; i + piece.Count <= flow.Count; i++)
        {
            int k = 0;
            while (k < piece.Count && flow[i + k] == piece[k]) k++;
            if (k == piece.Count) return i;
        }
        return -1;
    }

    [GeneratedRegex(@"instruction trace error .* tid (\d+) ")]
    private static partial Regex PerfError();

    [Theory]
    [InlineData("control_flow", "")]
    [InlineData("syscalls", "40")]
    [InlineData("signals", "")]
    [InlineData("threads", "")]
    public void Branches_equal_perfs_branch_samples(string sample, string args)
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = Record(sample, args, "");
        var p = Perf.Run("script", "-i", rec.Data, "--itrace=b", "-F", "tid,ip,addr,flags");
        Perf.AssertClean(p, allowLost: false);
        var perf = new Dictionary<int, List<string>>();
        foreach (string line in p.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Match m = PerfBranch().Match(line);
            Assert.True(m.Success, $"unexpected perf line: {line}");
            // perf's flags, in our words: "tr strt" is a trace begin, "tr end  syscall" a syscall that ends the trace.
            string flags = string.Join(' ', m.Groups[2].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            string kind = flags switch
            {
                "tr strt" => "trace begin",
                _ when flags.StartsWith("tr end ", StringComparison.Ordinal) => $"{flags[7..]}, trace end",
                _ => flags,
            };
            int tid = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            perf.TryAdd(tid, []);
            perf[tid].Add($"{ulong.Parse(m.Groups[3].Value, NumberStyles.HexNumber):x} -> {ulong.Parse(m.Groups[4].Value, NumberStyles.HexNumber):x} {kind}");
        }
        var r = Tool.Run(["decode", "-i", rec.Data, "--format", "branches"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var ours = new Dictionary<int, List<string>>();
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#')) continue;
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);   // time tid from -> to kind...
            int tid = int.Parse(f[1], CultureInfo.InvariantCulture);
            ours.TryAdd(tid, []);
            ours[tid].Add($"{ulong.Parse(f[2], NumberStyles.HexNumber):x} -> {ulong.Parse(f[4], NumberStyles.HexNumber):x} {string.Join(' ', f[5..])}");
        }
        Assert.Equal(perf.Keys.Order(), ours.Keys.Order());
        foreach (int tid in perf.Keys)
        {
            List<string> a = perf[tid], b = ours[tid];
            int n = 0;
            while (n < a.Count && n < b.Count && a[n] == b[n]) n++;
            Assert.True(n == a.Count && n == b.Count, $"tid {tid}: perf lists {a.Count} branches, we list {b.Count}; first difference at #{n}: perf '{a.ElementAtOrDefault(n)}', ours '{b.ElementAtOrDefault(n)}'");
            log.WriteLine($"tid {tid}: {a.Count} branches equal perf's, kinds included");
        }
    }

    [GeneratedRegex(@"^\s*(\d+)\s+(.*?)\s+([0-9a-f]+) =>\s+([0-9a-f]+)\s*$")]
    private static partial Regex PerfBranch();
}
