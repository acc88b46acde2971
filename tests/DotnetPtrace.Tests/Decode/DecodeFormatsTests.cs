using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Decode;

/// <summary>
/// The output formats of `decode -i` against facts from outside: the ground truth (JSON blocks, --time slices),
/// objdump (symbols and disassembly of the insn format), and the sample's source (how often each function is
/// called, for the call trace).
/// </summary>
public sealed partial class DecodeFormatsTests(ITestOutputHelper log)
{
    [Fact]
    public void Insn_lines_carry_objdumps_symbols_and_mnemonics()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("control_flow", []);
        var dump = ProcessRunner.Run("objdump", ["-d", "-M", "intel", "--no-show-raw-insn", SoftPtRecordings.Binary("control_flow")], TimeSpan.FromSeconds(60));
        Assert.True(dump.ExitCode == 0, dump.ToString());
        // objdump: "<sym>:" headers and "  addr:\tmnemonic operands" lines, by link-time address.
        var symbols = new Dictionary<string, ulong>();
        var mnemonics = new Dictionary<ulong, string>();
        foreach (string line in dump.Stdout.Split('\n'))
        {
            if (ObjdumpSymbol().Match(line) is { Success: true } s) symbols.TryAdd(s.Groups[2].Value, Hex(s.Groups[1].Value));
            else if (ObjdumpInsn().Match(line) is { Success: true } i) mnemonics[Hex(i.Groups[1].Value)] = i.Groups[2].Value;
        }
        var r = Tool.Run(["decode", "-i", rec.Data, "--format", "insn"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var truth = SoftPtRecordings.ParseFlows(File.ReadAllText(rec.GroundTruth)).Single().Addresses;
        int checkedLines = 0, index = 0;
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#') || line.StartsWith('[')) continue;
            Match m = InsnLine().Match(line);
            Assert.True(m.Success, $"not an insn line: {line}");
            Assert.Equal(truth[index++], Hex(m.Groups[1].Value));
            // Only the sample's own functions: objdump has them (libc is stripped of local symbols).
            if (!symbols.TryGetValue(m.Groups[2].Value, out ulong start)) continue;
            ulong linkAddress = start + Hex(m.Groups[3].Value);
            Assert.True(mnemonics.TryGetValue(linkAddress, out string? mnemonic), $"{line}: objdump has no instruction at {m.Groups[2].Value}+0x{m.Groups[3].Value}");
            Assert.Equal(mnemonic, m.Groups[4].Value);
            checkedLines++;
        }
        Assert.Equal(truth.Count, index);
        Assert.True(checkedLines > 1000, $"only {checkedLines} instructions in the sample's own functions");
        log.WriteLine($"{index} instructions in ground-truth order; {checkedLines} in control_flow's functions have objdump's symbol+offset and mnemonic");
    }

    [Fact]
    public void Calls_trace_has_the_calls_the_source_makes()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("control_flow", []);
        var r = Tool.Run(["decode", "-i", rec.Data, "--format", "calls"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int Calls(string f) => lines.Count(l => l.Contains($"-> {f} ("));
        // control_flow.c: 16 iterations call add directly and, through ops[i & 1], add 8 more times and mul 8 times;
        // classify 16 times; depth(100) recurses 101 times; main once.
        Assert.Equal(24, Calls("add"));
        Assert.Equal(8, Calls("mul"));
        Assert.Equal(16, Calls("classify"));
        Assert.Equal(101, Calls("depth"));
        Assert.Equal(1, Calls("main"));
        // The recursion goes one level deeper with each call (up to the indentation cap) and comes back.
        var depthIndent = lines.Where(l => l.Contains("-> depth (")).Select(l => l.IndexOf("->", StringComparison.Ordinal)).ToList();
        for (int i = 1; i < depthIndent.Count; i++) Assert.True(depthIndent[i] >= depthIndent[i - 1], "the recursion does not nest");
        Assert.True(depthIndent[^1] > depthIndent[0]);
        Assert.True(lines.Count(l => l.Contains("<- depth+")) >= 100, "the returns through the recursion are missing");
        log.WriteLine($"{lines.Length} call/return lines; calls per function as the source says");
    }

    [Fact]
    public void Json_blocks_tile_the_ground_truth()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("threads", []);
        List<ThreadFlow> truth = SoftPtRecordings.ParseFlows(File.ReadAllText(rec.GroundTruth));
        var r = Tool.Run(["decode", "-i", rec.Data, "--format", "json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var next = truth.ToDictionary(t => t.Tid, _ => 0);
        ulong lastTime = 0;
        int blocks = 0, events = 0;
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement o = doc.RootElement;
            int tid = o.GetProperty("tid").GetInt32();
            ThreadFlow t = truth.Single(x => x.Tid == tid);
            Assert.Equal(t.Pid, o.GetProperty("pid").GetInt32());
            if (o.GetProperty("type").GetString() == "event") { events++; continue; }
            Assert.Equal("block", o.GetProperty("type").GetString());
            int at = next[tid], count = o.GetProperty("insns").GetInt32();
            Assert.Equal(t.Addresses[at], Hex(o.GetProperty("ip").GetString()![2..]));
            Assert.Equal(t.Addresses[at + count - 1], Hex(o.GetProperty("last").GetString()![2..]));
            next[tid] = at + count;
            ulong time = o.GetProperty("time").GetUInt64();
            if (blocks > 0 && next[tid] != count) Assert.True(time >= lastTime || at == 0, "time went back within a thread");
            lastTime = time;
            blocks++;
        }
        foreach (ThreadFlow t in truth) Assert.Equal(t.Addresses.Count, next[t.Tid]);
        log.WriteLine($"{blocks} blocks cover every instruction of {truth.Count} threads in order; {events} events");
    }

    [Fact]
    public void Time_slices_split_the_flow_without_loss()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("syscalls", ["40"]);
        ThreadFlow truth = SoftPtRecordings.ParseFlows(File.ReadAllText(rec.GroundTruth)).Single();
        // A time in the middle of the run, from the trace's own events.
        var ev = Tool.Run(["decode", "-i", rec.Data, "--format", "events"]);
        string[] times = ev.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToArray();
        decimal middle = decimal.Parse(times[times.Length / 2], CultureInfo.InvariantCulture);
        string end = middle.ToString("F9", CultureInfo.InvariantCulture), start = (middle + 0.000000001m).ToString("F9", CultureInfo.InvariantCulture);
        var before = Tool.Run(["decode", "-i", rec.Data, "--format", "addresses", "--time", $",{end}"]);
        var after = Tool.Run(["decode", "-i", rec.Data, "--format", "addresses", "--time", $"{start},"]);
        Assert.True(before.ExitCode == 0 && after.ExitCode == 0, before + "\n" + after);
        List<ulong> a = SoftPtRecordings.ParseFlows(before.Stdout).Single().Addresses, b = SoftPtRecordings.ParseFlows(after.Stdout).Single().Addresses;
        Assert.NotEmpty(a);
        Assert.NotEmpty(b);
        SoftPtRecordings.AssertSameAddresses(truth.Addresses, [.. a, .. b], $"--time ,{end} then --time {start},");
        log.WriteLine($"{a.Count} instructions up to {end} s, {b.Count} after: together the ground truth");
    }

    [Fact]
    public void Parallel_decoding_keeps_stream_order()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("fork_exec", ["syscalls", "5"]);
        var serial = Tool.Run(["decode", "-i", rec.Data, "--format", "insn", "-j", "1"]);
        var parallel = Tool.Run(["decode", "-i", rec.Data, "--format", "insn", "-j", "4"]);
        Assert.True(serial.ExitCode == 0 && parallel.ExitCode == 0, serial + "\n" + parallel);
        Assert.Equal(serial.Stdout, parallel.Stdout);
        var quiet = Tool.Run(["decode", "-i", rec.Data, "--quiet", "--stat"]);
        int total = SoftPtRecordings.ParseFlows(File.ReadAllText(rec.GroundTruth)).Sum(t => t.Addresses.Count);
        Assert.StartsWith($"insn: {total}.\n", quiet.Stdout);
        log.WriteLine($"{serial.Stdout.Length} bytes the same with 1 and 4 jobs; --quiet --stat counts {total}");
    }

    private static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^([0-9a-f]+) <([^>]+)>:$")]
    private static partial Regex ObjdumpSymbol();

    [GeneratedRegex(@"^\s+([0-9a-f]+):\s+(\S+)")]
    private static partial Regex ObjdumpInsn();

    [GeneratedRegex(@"^([0-9a-f]{16})  (.+?)\+0x([0-9a-f]+) +(\S+)")]
    private static partial Regex InsnLine();
}
