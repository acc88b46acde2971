using System.Globalization;
using System.Text.Json;
using DotnetPtrace.Tests.Decode;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Timeline;

/// <summary>
/// samples/softpt/calltree.c built with gcc -O2 -no-pie and recorded with `record --soft-pt --ground-truth`, then
/// `report --timeline` and `report --folded`. Oracles: the call tree the source makes (with the two tail calls
/// gcc -O2 emits as jumps, checked in objdump's disassembly first), and, for instruction counts, the ground truth
/// (every instruction the program executed, from ptrace single-stepping) counted inside each function's range as
/// `nm -S` gives it (-no-pie: link addresses are run-time addresses).
/// </summary>
public sealed class TimelineSoftPtTests(ITestOutputHelper log)
{
    private static readonly string[] Functions = ["main", "outer", "inner", "leaf", "rec", "thrower", "tail_caller", "tail_target"];

    /// <summary>The calls of calltree.c among its own functions, in order, as (depth under main, name).</summary>
    private static readonly (int Depth, string Name)[] ExpectedTree =
    [
        (0, "main"),
        (1, "outer"), (2, "inner"), (1, "leaf"),   // outer ends in `jmp leaf`: leaf replaces it
        (1, "outer"), (2, "inner"), (1, "leaf"),
        (1, "rec"), (2, "rec"), (3, "rec"), (4, "rec"),
        (1, "thrower"), (2, "thrower"), (3, "thrower"),   // the deepest longjmps back into main
        (1, "tail_caller"), (1, "tail_target"),            // `jmp tail_target`
    ];

    private static readonly string[] ExpectedStacks =
    [
        "main", "main;outer", "main;outer;inner", "main;leaf", "main;rec", "main;rec;rec", "main;rec;rec;rec", "main;rec;rec;rec;rec",
        "main;thrower", "main;thrower;thrower", "main;thrower;thrower;thrower", "main;tail_caller", "main;tail_target",
    ];

    private sealed record Sample(string Binary, string Data, string GroundTruth, Dictionary<string, (ulong Start, ulong End)> Ranges, string Disassembly);

    private static readonly Lazy<Sample?> Recorded = new(Record, LazyThreadSafetyMode.ExecutionAndPublication);

    private static Sample? Record()
    {
        if (SoftPtRecordings.MissingPrerequisite() is not null) return null;
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-timeline-").FullName;
        string exe = Path.Combine(dir, "calltree");
        var gcc = ProcessRunner.Run("gcc", ["-O2", "-g", "-no-pie", "-o", exe, Path.Combine(SoftPtSamples.SourceDirectory, "calltree.c")], TimeSpan.FromSeconds(60));
        Assert.True(gcc.ExitCode == 0, gcc.ToString());
        var nm = ProcessRunner.Run("nm", ["--defined-only", "-S", exe], TimeSpan.FromSeconds(30));
        Assert.True(nm.ExitCode == 0, nm.ToString());
        var ranges = new Dictionary<string, (ulong, ulong)>();
        foreach (string line in nm.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] p = line.Split(' ');
            if (p.Length == 4 && p[2] is "T" or "t" && Functions.Contains(p[3]))
            {
                ulong start = ulong.Parse(p[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                ranges[p[3]] = (start, start + ulong.Parse(p[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }
        Assert.Equal(Functions.Order(), ranges.Keys.Order());
        var objdump = ProcessRunner.Run("objdump", ["-d", "--no-show-raw-insn", exe], TimeSpan.FromSeconds(30));
        Assert.True(objdump.ExitCode == 0, objdump.ToString());
        string data = Path.Combine(dir, "calltree.data"), truth = Path.Combine(dir, "calltree.gt");
        var r = Tool.Run(["record", "--soft-pt", "--ground-truth", truth, "-o", data, "--", exe], TimeSpan.FromSeconds(180));
        Assert.True(File.Exists(data) && File.Exists(truth), r.ToString());
        return new Sample(exe, data, truth, ranges, objdump.Stdout);
    }

    private sealed record Slice(string Name, decimal Ts, decimal Dur, int Tid, ulong SelfInsns)
    {
        public decimal End => Ts + Dur;
    }

    private static List<JsonElement> Timeline(string data, string json, params string[] extra)
    {
        var r = Tool.Run(["report", "-i", data, "--timeline", json, .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("written to", r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        return [.. doc.RootElement.GetProperty("traceEvents").EnumerateArray().Select(e => e.Clone())];
    }

    private static List<Slice> Slices(IEnumerable<JsonElement> events) =>
    [
        .. events.Where(e => e.GetProperty("ph").GetString() == "X").Select(e => new Slice(
            e.GetProperty("name").GetString()!, e.GetProperty("ts").GetDecimal(), e.GetProperty("dur").GetDecimal(),
            e.GetProperty("tid").GetInt32(), e.GetProperty("args").GetProperty("self_insns").GetUInt64())),
    ];

    /// <summary>Asserts the slices nest (each inside the one it starts in) and returns them in start order with depths.</summary>
    private static List<(int Depth, Slice Slice)> Nest(List<Slice> slices)
    {
        var ordered = slices.OrderBy(s => s.Ts).ThenByDescending(s => s.Dur).ToList();
        var open = new Stack<Slice>();
        var result = new List<(int, Slice)>();
        foreach (Slice s in ordered)
        {
            while (open.Count > 0 && open.Peek().End <= s.Ts) open.Pop();
            if (open.Count > 0)
                Assert.True(s.End <= open.Peek().End, $"{s} starts inside {open.Peek()} but ends after it");
            result.Add((open.Count, s));
            open.Push(s);
        }
        return result;
    }

    private Dictionary<string, ulong> GroundTruthCounts(Sample sample)
    {
        var addresses = SoftPtRecordings.ParseFlows(File.ReadAllText(sample.GroundTruth)).Single().Addresses;
        return sample.Ranges.ToDictionary(kv => kv.Key, kv => (ulong)addresses.Count(a => a >= kv.Value.Start && a < kv.Value.End));
    }

    [Fact]
    public void Timeline_holds_the_call_tree_of_the_source_as_nested_slices_in_order()
    {
        if (Recorded.Value is not { } sample) { log.WriteLine($"skipped: {SoftPtRecordings.MissingPrerequisite()}"); return; }
        foreach (string tail in new[] { "<leaf>", "<tail_target>" })
        {
            if (sample.Disassembly.Split('\n').Any(l => l.Contains("\tjmp") && l.EndsWith(tail, StringComparison.Ordinal))) continue;
            log.WriteLine($"skipped: this gcc does not emit the tail call to {tail} as a jump; the expected tree assumes it");
            return;
        }
        string json = Path.Combine(Path.GetDirectoryName(sample.Data)!, "calltree.json");
        List<JsonElement> events = Timeline(sample.Data, json);
        List<Slice> slices = Slices(events);
        Assert.Single(slices.Select(s => s.Tid).Distinct());

        // Written as calls leave: end times never go back, and every timestamp is at or after the first.
        decimal last = 0;
        foreach (Slice s in slices)
        {
            Assert.True(s.End >= last, $"{s} ends before the slice written before it");
            last = s.End;
            Assert.True(s.Dur > 0, $"{s} has no length");
        }
        var nested = Nest(slices);

        // The sample's own functions, with their depth counted in the sample's own functions.
        var ours = new List<(int, string)>();
        var stack = new Stack<(decimal End, bool Ours)>();
        foreach (var (_, s) in nested)
        {
            while (stack.Count > 0 && stack.Peek().End <= s.Ts) stack.Pop();
            bool isOurs = Functions.Contains(s.Name);
            if (isOurs) ours.Add((stack.Count(x => x.Ours), s.Name));
            stack.Push((s.End, isOurs));
        }
        Assert.Equal(ExpectedTree, ours);

        // Self instructions per function: what the ground truth executed inside its nm range.
        var truth = GroundTruthCounts(sample);
        foreach (string f in Functions)
            Assert.Equal(truth[f], (ulong)slices.Where(s => s.Name == f).Sum(s => (decimal)s.SelfInsns));
        Assert.Contains(events, e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "thread_name");
        log.WriteLine($"{slices.Count} slices nest; the sample's {ours.Count} calls are the source's; self instructions equal the ground truth's: {string.Join(", ", truth.Select(kv => $"{kv.Key} {kv.Value}"))}");
    }

    [Fact]
    public void Folded_stacks_hold_the_sources_stacks_with_the_ground_truths_instruction_counts()
    {
        if (Recorded.Value is not { } sample) { log.WriteLine($"skipped: {SoftPtRecordings.MissingPrerequisite()}"); return; }
        string folded = Path.Combine(Path.GetDirectoryName(sample.Data)!, "calltree.folded");
        var r = Tool.Run(["report", "-i", sample.Data, "--folded", folded]);
        Assert.True(r.ExitCode == 0, r.ToString());
        // As for samples, folded stacks replace the table; one status line says what the weight is.
        Assert.Contains($"wrote {folded}", r.Stderr);
        Assert.Contains("weight = Intel PT instructions", r.Stderr);
        var stacks = new Dictionary<string, ulong>();
        foreach (string line in File.ReadAllLines(folded))
        {
            int space = line.LastIndexOf(' ');
            string[] frames = line[..space].Split(';');
            int main = Array.IndexOf(frames, "main");
            if (main < 0 || !Functions.Contains(frames[^1])) continue;
            string key = string.Join(';', frames[main..]);
            stacks[key] = stacks.GetValueOrDefault(key) + ulong.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        Assert.Equal(ExpectedStacks.Order(), stacks.Keys.Order());
        var truth = GroundTruthCounts(sample);
        foreach (string f in Functions)
            Assert.Equal(truth[f], stacks.Where(kv => kv.Key.Split(';')[^1] == f).Aggregate(0UL, (n, kv) => n + kv.Value));
        // A function reached by one path only: that path's count is the ground truth's.
        Assert.Equal(truth["tail_target"], stacks["main;tail_target"]);
        Assert.Equal(truth["inner"], stacks["main;outer;inner"]);
        log.WriteLine(string.Join("\n", stacks.Select(kv => $"{kv.Key} {kv.Value}")));
    }

    [Fact]
    public void A_flame_graph_of_a_PT_recording_draws_each_function_with_the_ground_truths_instructions()
    {
        if (Recorded.Value is not { } sample) { log.WriteLine($"skipped: {SoftPtRecordings.MissingPrerequisite()}"); return; }
        string svg = Path.Combine(Path.GetDirectoryName(sample.Data)!, "calltree.svg");
        var r = Tool.Run(["report", "-i", sample.Data, "--flamegraph", svg]);
        Assert.True(r.ExitCode == 0, r.ToString());
        // Frames are <g class="f" data-w="weight"><title>name\n...</title>: a function reached by one path only is one
        // frame, whose weight (its own instructions plus its callees') is the ground truth's sum over its subtree.
        var frames = System.Xml.Linq.XDocument.Load(svg).Descendants().Where(e => e.Name.LocalName == "g" && (string?)e.Attribute("class") == "f")
            .Select(g => (Name: g.Elements().First(e => e.Name.LocalName == "title").Value.Split('\n')[0], Weight: ulong.Parse((string)g.Attribute("data-w")!, CultureInfo.InvariantCulture)))
            .ToList();
        var truth = GroundTruthCounts(sample);
        Assert.Equal(truth["inner"], Assert.Single(frames, f => f.Name == "inner").Weight);
        Assert.Equal(truth["outer"] + truth["inner"], Assert.Single(frames, f => f.Name == "outer").Weight);
    }

    [Fact]
    public void Report_on_a_PT_recording_lists_the_functions_and_with_children_the_call_tree()
    {
        if (Recorded.Value is not { } sample) { log.WriteLine($"skipped: {SoftPtRecordings.MissingPrerequisite()}"); return; }
        var r = Tool.Run(["report", "-i", sample.Data, "--children", "--percent-limit", "0"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain("\e[", r.Stdout);   // not a terminal: no colours
        var truth = GroundTruthCounts(sample);
        // The table: hottest first by self instructions (its first column).
        string[] lines = r.Stdout.Split('\n');
        var table = lines.SkipWhile(l => !l.StartsWith("#      Self insn", StringComparison.Ordinal)).Skip(1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal) && !l.StartsWith("  ...", StringComparison.Ordinal))
            .Select(l => ulong.Parse(l.TrimStart().Split(' ')[0], NumberStyles.AllowThousands, CultureInfo.InvariantCulture)).ToList();
        Assert.True(table.Count > 10, r.Stdout);
        Assert.Equal(table.OrderDescending(), table);
        // The tree: total, share, self, time, calls, then the name indented by depth; functions reached by one path
        // have the ground truth's count as their self instructions.
        string[] tree = [.. lines.SkipWhile(l => !l.StartsWith("# Call tree", StringComparison.Ordinal)).Skip(1)];
        string Row(string f) => tree.First(l => l.EndsWith(" " + f, StringComparison.Ordinal));
        ulong Self(string f) => ulong.Parse(Row(f).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2], NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        int Indent(string f) => Row(f).Length - f.Length;
        Assert.True(Indent("outer") > Indent("main") && Indent("inner") > Indent("outer") && Indent("leaf") == Indent("outer"), string.Join('\n', tree));
        foreach (string f in new[] { "inner", "leaf", "tail_caller", "tail_target" }) Assert.Equal(truth[f], Self(f));
    }

    [Fact]
    public void Signal_handlers_run_inside_the_interrupted_call_and_siglongjmp_unwinds_to_main()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-timeline-signals-").FullName;
        string exe = Path.Combine(dir, "signals"), data = Path.Combine(dir, "signals.data"), truth = Path.Combine(dir, "signals.gt"), folded = Path.Combine(dir, "signals.folded");
        var gcc = ProcessRunner.Run("gcc", ["-O0", "-g", "-no-pie", "-o", exe, Path.Combine(SoftPtSamples.SourceDirectory, "signals.c")], TimeSpan.FromSeconds(60));
        Assert.True(gcc.ExitCode == 0, gcc.ToString());
        var rec = Tool.Run(["record", "--soft-pt", "--ground-truth", truth, "-o", data, "--", exe], TimeSpan.FromSeconds(180));
        Assert.True(File.Exists(data), rec.ToString());
        var r = Tool.Run(["report", "-i", data, "--folded", folded]);
        Assert.True(r.ExitCode == 0, r.ToString());
        // Stacks from main on, summed by their last function.
        var stacks = new Dictionary<string, ulong>();
        foreach (string line in File.ReadAllLines(folded))
        {
            int space = line.LastIndexOf(' ');
            string[] frames = line[..space].Split(';');
            int main = Array.IndexOf(frames, "main");
            if (main < 0) continue;
            string key = string.Join(';', frames[main..]);
            stacks[key] = stacks.GetValueOrDefault(key) + ulong.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        // signals.c: raise(SIGUSR1) and kill(getpid(), SIGUSR1) each run on_usr1 on the way out of their system call;
        // poke(NULL) faults and on_segv siglongjmps back into main, which goes on to printf.
        var usr1 = stacks.Keys.Where(k => k.EndsWith(";on_usr1", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, usr1.Count);
        Assert.Contains(usr1, k => k.StartsWith("main;raise;", StringComparison.Ordinal));
        Assert.Contains("main;kill;on_usr1", usr1);
        Assert.Contains("main;poke;on_segv", stacks.Keys);
        Assert.Contains(stacks.Keys, k => k.StartsWith("main;printf", StringComparison.Ordinal));
        Assert.DoesNotContain(stacks.Keys, k => k.Contains("on_segv;", StringComparison.Ordinal) && k.Contains("printf", StringComparison.Ordinal));
        // on_usr1's instructions: what the ground truth executed inside its nm range.
        var nm = ProcessRunner.Run("nm", ["--defined-only", "-S", exe], TimeSpan.FromSeconds(30));
        string[] sym = nm.Stdout.Split('\n').Select(l => l.Split(' ')).First(p => p.Length == 4 && p[3] == "on_usr1");
        ulong start = ulong.Parse(sym[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), end = start + ulong.Parse(sym[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        ulong executed = (ulong)SoftPtRecordings.ParseFlows(File.ReadAllText(truth)).Single().Addresses.Count(a => a >= start && a < end);
        Assert.Equal(executed, usr1.Aggregate(0UL, (n, k) => n + stacks[k]));
        log.WriteLine(string.Join("\n", stacks.Where(kv => kv.Key.Split(';').Length <= 4).Select(kv => $"{kv.Key} {kv.Value}")));
    }

    [Fact]
    public void After_an_exec_the_new_program_s_calls_start_over_on_the_same_track()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("fork_exec", ["syscalls", "5"]);
        string json = Path.Combine(Path.GetDirectoryName(rec.Data)!, Path.GetFileNameWithoutExtension(rec.Data) + "-exec.json");
        List<JsonElement> events = Timeline(rec.Data, json);
        // The ground truth's threads: the parent, and the child that forks off and execs syscalls.
        var tids = SoftPtRecordings.ParseFlows(File.ReadAllText(rec.GroundTruth)).Select(f => f.Tid).Distinct().ToList();
        List<Slice> slices = Slices(events);
        Assert.Equal(tids.Order(), slices.Select(s => s.Tid).Distinct().Order());
        var exec = events.Single(e => e.GetProperty("ph").GetString() == "i" && e.GetProperty("cat").GetString() == "exec");
        int child = exec.GetProperty("tid").GetInt32();
        decimal at = exec.GetProperty("ts").GetDecimal();
        var childSlices = slices.Where(s => s.Tid == child).ToList();
        var nested = Nest(childSlices);
        // Nothing of fork_exec is open across the exec, and syscalls' main is an outermost call's descendant after it.
        Assert.DoesNotContain(childSlices, s => s.Ts < at && s.End > at);
        Assert.Contains(childSlices, s => s.Name == "execve" && s.End <= at);
        var mains = nested.Where(n => n.Slice.Name == "main" && n.Slice.Ts > at).ToList();
        Assert.Single(mains);
        Assert.DoesNotContain(nested, n => n.Slice.Name == "execve" && n.Slice.Ts > at);
        log.WriteLine($"exec at {at} µs in thread {child}: {childSlices.Count(s => s.Ts > at)} slices after it, main at depth {mains[0].Depth}");
    }

    [Fact]
    public void The_threads_sample_has_one_track_per_thread()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        var rec = SoftPtRecordings.Get("threads", []);
        string json = Path.Combine(Path.GetDirectoryName(rec.Data)!, Path.GetFileNameWithoutExtension(rec.Data) + ".json");
        List<JsonElement> events = Timeline(rec.Data, json);
        var truthTids = SoftPtRecordings.ParseFlows(File.ReadAllText(rec.GroundTruth)).Select(f => f.Tid).Order().ToList();
        Assert.Equal(2, truthTids.Count);
        List<Slice> slices = Slices(events);
        Assert.Equal(truthTids, slices.Select(s => s.Tid).Distinct().Order());
        var named = events.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "thread_name")
            .Select(e => e.GetProperty("tid").GetInt32()).Order();
        Assert.Equal(truthTids, named);
        foreach (int tid in truthTids) Nest([.. slices.Where(s => s.Tid == tid)]);
        Assert.Contains(slices, s => s.Name == "spin");
        log.WriteLine($"tracks: {string.Join(", ", truthTids)}; {slices.Count} slices");
    }

    [Fact]
    public void Time_slices_keep_only_the_calls_inside_the_window()
    {
        if (Recorded.Value is not { } sample) { log.WriteLine($"skipped: {SoftPtRecordings.MissingPrerequisite()}"); return; }
        string dir = Path.GetDirectoryName(sample.Data)!;
        List<Slice> all = Slices(Timeline(sample.Data, Path.Combine(dir, "all.json")));
        Slice main = all.Single(s => s.Name == "main");
        // The window: main's middle half, in seconds of perf time (µs / 1e6).
        decimal from = main.Ts + main.Dur / 4, to = main.Ts + main.Dur * 3 / 4;
        string Seconds(decimal us) => (us / 1_000_000m).ToString("0.000000000", CultureInfo.InvariantCulture);
        List<Slice> part = Slices(Timeline(sample.Data, Path.Combine(dir, "part.json"), "--time", $"{Seconds(from)},{Seconds(to)}"));
        Assert.NotEmpty(part);
        Assert.True(part.Count < all.Count);
        // Blocks of the same timing period share a time and are spread 1 ns apart: allow a microsecond of drift.
        Assert.All(part, s => Assert.True(s.Ts >= Math.Floor(from * 1000) / 1000 - 0.001m && s.End <= to + 1, $"{s} outside [{from}, {to}]"));
        Nest(part);
        log.WriteLine($"{part.Count} of {all.Count} slices in [{from}, {to}] µs");
    }

    [Fact]
    public void Max_events_caps_the_file_and_says_what_was_cut()
    {
        if (Recorded.Value is not { } sample) { log.WriteLine($"skipped: {SoftPtRecordings.MissingPrerequisite()}"); return; }
        string json = Path.Combine(Path.GetDirectoryName(sample.Data)!, "capped.json");
        var r = Tool.Run(["report", "-i", sample.Data, "--timeline", json, "--max-events", "50"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("cut at --max-events 50", r.Stderr);
        Assert.Contains("--time", r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        Assert.Equal(50, doc.RootElement.GetProperty("traceEvents").EnumerateArray().Count(e => e.GetProperty("ph").GetString() != "M"));
    }

    [Fact]
    public void A_timeline_of_a_file_without_Intel_PT_is_a_one_line_error_and_no_file()
    {
        string input = Path.Combine(PtTestSupportRoot(), "perf.data.busy.0-3.8");
        if (!File.Exists(input)) { log.WriteLine($"skipped: {input} is missing"); return; }
        string json = Path.Combine(Directory.CreateTempSubdirectory("dotnet-ptrace-timeline-bad-").FullName, "out.json");
        var r = Tool.Run(["report", "-i", input, "--timeline", json]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("no Intel PT trace", r.Stderr);
        Assert.Contains(input, r.Stderr);
        Assert.False(File.Exists(json));

        var missing = Tool.Run(["report", "-i", "/nonexistent.data", "--timeline", json]);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Single(missing.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(json));
    }

    private static string PtTestSupportRoot() => Path.GetFullPath(Path.Combine(DotnetPtrace.Tests.IntelPt.PtTestSupport.RepoRoot, "..", "shared", "testdata", "perf-data"));
}
