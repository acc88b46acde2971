using System.Buffers;
using System.Globalization;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.SoftPtEncoder;

/// <summary>
/// Builds the test programs and the two test oracles (a ptrace single-stepper for the ground truth, libipt's
/// instruction flow decoder for the verdict), all with gcc, once per test run; runs a program under the stepper and
/// turns its output into an <see cref="ExecutionRecording"/>.
/// </summary>
internal static class SoftPtTestSupport
{
    /// <summary>libipt's CPU for decoding: Skylake-SP/Cascade Lake (6/85), whose errata (bdm70, skl014, skd022) do not touch these streams.</summary>
    public const string Cpu = "6/85";

    private static readonly Lazy<string> ToolDir = new(BuildTools, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Dictionary<string, Lazy<Recorded>> Recordings = new();

    private static string SourceDir => Path.Combine(PtTestSupport.RepoRoot, "tests", "DotnetPtrace.Tests", "SoftPtEncoder");

    /// <summary>Null when every tool is there, else why the tests cannot run.</summary>
    public static string? MissingPrerequisite()
    {
        if (!File.Exists("/usr/include/intel-pt.h")) return "libipt-dev is not installed (no /usr/include/intel-pt.h): apt-get install libipt-dev";
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
            return "the test programs are x86-64 Linux code";
        try
        {
            var r = PtTestSupport.Run("gcc", ["--version"], TimeSpan.FromSeconds(30));
            if (r.ExitCode != 0) return "gcc does not run";
        }
        catch (InvalidOperationException)
        {
            return "gcc is not installed (apt-get install gcc libc6-dev)";
        }
        return null;
    }

    public static string Stepper => Path.Combine(ToolDir.Value, "softpt_stepper");
    public static string Libipt => Path.Combine(ToolDir.Value, "softpt_libipt");

    private static string BuildTools()
    {
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        Gcc(dir, "softpt_stepper", ["-O2", "-Wall", "softpt_stepper.c"]);
        Gcc(dir, "softpt_libipt", ["-O2", "-Wall", "softpt_libipt.c", "-lipt"]);
        // The freestanding program: no libc, frame-pointer-free -O1 code, no sibling-call optimisation (so the
        // recursions really call and return), no CET (no endbr64 to keep the listing simple).
        Gcc(dir, "softpt_program", ["-O1", "-fno-optimize-sibling-calls", "-fno-inline", "-nostdlib", "-static", "-fno-pie", "-no-pie",
            "-fcf-protection=none", "softpt_program.c"]);
        // The same, linked 512 MiB higher, to exec into without overlapping the first.
        Gcc(dir, "softpt_program_high", ["-O1", "-fno-optimize-sibling-calls", "-fno-inline", "-nostdlib", "-static", "-fno-pie", "-no-pie",
            "-fcf-protection=none", "-Wl,-Ttext-segment=0x20000000", "softpt_program.c"]);
        // A static glibc program: startup, stdio, qsort callbacks, setjmp/longjmp, signals, the vDSO.
        Gcc(dir, "softpt_libc", ["-O2", "-static", "softpt_libc.c"]);
        return dir;
    }

    private static void Gcc(string dir, string output, string[] args)
    {
        var r = PtTestSupport.Run("gcc", [.. args.Select(a => a.EndsWith(".c") ? Path.Combine(SourceDir, a) : a), "-o", Path.Combine(dir, output)],
            TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, $"gcc {output} failed:\n{r.Stderr}");
    }

    /// <summary>A program's single-stepped run: the recording, and where its code dumps are.</summary>
    public sealed record Recorded(ExecutionRecording Recording, ThreadExecution Thread, IReadOnlyList<(ulong Start, string File)> Regions)
    {
        /// <summary>The executed instruction addresses, in order (the ground truth to compare against).</summary>
        public ulong[] Instructions => Thread.Steps.AsSpan().ToArray().Where(s => !StepMarker.IsMarker(s)).ToArray();
    }

    /// <summary>Runs a built program under the stepper (once per test run) and loads what it recorded.</summary>
    public static Recorded Record(string program)
    {
        Lazy<Recorded> lazy;
        lock (Recordings)
        {
            if (!Recordings.TryGetValue(program, out lazy!))
                Recordings[program] = lazy = new Lazy<Recorded>(() => RecordNow(program), LazyThreadSafetyMode.ExecutionAndPublication);
        }
        return lazy.Value;
    }

    private static Recorded RecordNow(string program)
    {
        string outDir = Path.Combine(ToolDir.Value, program + ".run");
        Directory.CreateDirectory(outDir);
        var r = PtTestSupport.Run(Stepper, [outDir, Path.Combine(ToolDir.Value, program)], TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, $"the stepper failed on {program} ({r.ExitCode}): {r.Stderr}");

        var recording = new ExecutionRecording();
        var space = new AddressSpace { Id = 1, Pid = 1 };
        var regions = new List<(ulong, string)>();
        foreach (string line in File.ReadAllLines(Path.Combine(outDir, "regions.txt")))
        {
            string[] f = line.Split(' ', 5);
            ulong start = ulong.Parse(f[0], NumberStyles.HexNumber), offset = ulong.Parse(f[2], NumberStyles.HexNumber);
            string file = Path.Combine(outDir, f[3]);
            space.Regions.Add(new CodeRegion { Start = start, Bytes = File.ReadAllBytes(file), Path = f[4], FileOffset = offset });
            regions.Add((start, file));
        }
        space.Regions.Sort((a, b) => a.Start.CompareTo(b.Start));
        recording.AddressSpaces.Add(space);

        var thread = new ThreadExecution { Pid = 1, Tid = 1, AddressSpaceId = 1 };
        foreach (string line in File.ReadLines(Path.Combine(outDir, "steps.txt")))
        {
            if (line.StartsWith("S ", StringComparison.Ordinal))
                thread.Steps.Add(StepMarker.Make(StepMarker.Kind.Signal, ulong.Parse(line[2..], CultureInfo.InvariantCulture)));
            else if (line.StartsWith("X ", StringComparison.Ordinal))
                thread.Steps.Add(StepMarker.Make(StepMarker.Kind.Exit, ulong.Parse(line[2..], CultureInfo.InvariantCulture)));
            else
                thread.Steps.Add(ulong.Parse(line, NumberStyles.HexNumber));
        }
        recording.Threads.Add(thread);
        return new Recorded(recording, thread, regions);
    }

    /// <summary>Encodes the recorded thread with <paramref name="options"/>.</summary>
    public static (byte[] Bytes, SoftPtStatistics Stats) Encode(Recorded run, SoftPtOptions options, ThreadExecution? thread = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var stats = new Decoders.SoftPt.SoftPtEncoder(options).Encode(run.Recording, thread ?? run.Thread, buffer);
        Assert.Equal(buffer.WrittenCount, stats.Bytes);
        return (buffer.WrittenSpan.ToArray(), stats);
    }

    /// <summary>One decoded instruction (its time is null before the first timing packet) or event, as libipt printed it.</summary>
    public sealed record LibiptResult(List<LibiptInstruction> Instructions, List<string> Events, List<string> Errors);

    /// <summary>An instruction as libipt decoded it: address, pt_insn_time (null before any timing), pt_insn_class.</summary>
    public readonly record struct LibiptInstruction(ulong Ip, ulong? Time, int IClass)
    {
        public const int Return = 3, CondJump = 5, FarCall = 6;
    }

    /// <summary>libipt's pt_insn decoder over <paramref name="pt"/> with the recorded code regions as its image.</summary>
    public static LibiptResult DecodeWithLibipt(Recorded run, byte[] pt, SoftPtOptions options, string name) =>
        DecodeWithLibipt(run.Regions, pt, options, name);

    /// <summary>libipt's pt_insn decoder over <paramref name="pt"/> with <paramref name="regions"/> (code dumps at their addresses) as its image.</summary>
    public static LibiptResult DecodeWithLibipt(IEnumerable<(ulong Start, string File)> regions, byte[] pt, SoftPtOptions options, string name)
    {
        string file = Path.Combine(ToolDir.Value, $"{name}-{Environment.CurrentManagedThreadId}.pt");
        File.WriteAllBytes(file, pt);
        var args = new List<string>
        {
            "--cpu", Cpu, "--mtc-freq", options.MtcPeriod.ToString(CultureInfo.InvariantCulture),
            "--nom-freq", options.MaxNonTurboRatio.ToString(CultureInfo.InvariantCulture),
            "--ctc", $"{options.CtcRatioDenominator}/{options.CtcRatioNumerator}",
        };
        foreach (var (start, region) in regions) args.AddRange(["--raw", $"{region}:0x{start:x}"]);
        args.Add(file);
        var r = PtTestSupport.Run(Libipt, args, TimeSpan.FromSeconds(120));
        // SOFTPT_KEEP=DIR keeps the PT files there, to look at them with ptdump/ptxed.
        if (Environment.GetEnvironmentVariable("SOFTPT_KEEP") is { Length: > 0 } keep) File.Copy(file, Path.Combine(keep, name + ".pt"), true);
        File.Delete(file);
        Assert.True(r.ExitCode == 0, $"libipt harness failed ({r.ExitCode}): {r.Stderr}");
        var insns = new List<LibiptInstruction>();
        var events = new List<string>();
        var errors = new List<string>();
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("E ", StringComparison.Ordinal)) events.Add(line[2..]);
            else if (line.StartsWith("ERR ", StringComparison.Ordinal)) errors.Add(line[4..]);
            else if (line.StartsWith("END ", StringComparison.Ordinal)) continue;
            else
            {
                string[] f = line.Split(' ');
                insns.Add(new LibiptInstruction(ulong.Parse(f[0], NumberStyles.HexNumber),
                    f[1] == "-" ? null : ulong.Parse(f[1], NumberStyles.HexNumber), int.Parse(f[2], CultureInfo.InvariantCulture)));
            }
        }
        return new LibiptResult(insns, events, errors);
    }

    /// <summary>Asserts two address lists are equal, reporting the first difference with context.</summary>
    public static void AssertSameAddresses(ulong[] expected, IReadOnlyList<ulong> actual, string what)
    {
        int n = Math.Min(expected.Length, actual.Count);
        for (int i = 0; i < n; i++)
        {
            if (expected[i] == actual[i]) continue;
            var context = string.Join(", ", Enumerable.Range(Math.Max(0, i - 3), Math.Min(n, i + 3) - Math.Max(0, i - 3))
                .Select(j => $"{j}: {expected[j]:x}/{actual[j]:x}"));
            Assert.Fail($"{what}: instruction {i} is {actual[i]:x}, the ground truth says {expected[i]:x} (expected/decoded: {context})");
        }
        if (expected.Length != actual.Count)
            Assert.Fail($"{what}: {actual.Count} instructions decoded, {expected.Length} executed; first difference: " +
                (expected.Length > n ? $"{expected[n]:x} missing" : $"{actual[n]:x} extra"));
    }
}
