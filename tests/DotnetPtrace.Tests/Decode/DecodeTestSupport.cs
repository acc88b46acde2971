using System.Collections.Concurrent;
using System.Globalization;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Decode;

/// <summary>One thread of a ground truth or a decode: its ids and executed addresses, in order.</summary>
public sealed record ThreadFlow(int Pid, int Tid, List<ulong> Addresses);

/// <summary>
/// Software-PT recordings of the programs in samples/softpt, made by `dotnet-ptrace record --soft-pt --ground-truth`
/// as a user makes them, once per test run and shared by the tests (recording single-steps: seconds each). The
/// programs are built here with gcc -O0 -g.
/// </summary>
public static class SoftPtRecordings
{
    private static readonly Lazy<string> Binaries = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly ConcurrentDictionary<string, Lazy<Recording>> Cache = new();
    private static readonly string Dir = Directory.CreateTempSubdirectory("dotnet-ptrace-decode-tests-").FullName;

    public sealed record Recording(string Data, string GroundTruth, ProcessResult Record);

    /// <summary>Why recordings cannot be made here (no gcc, no perf), or null.</summary>
    public static string? MissingPrerequisite()
    {
        if (!File.Exists("/usr/bin/gcc") && !File.Exists("/usr/local/bin/gcc")) return "gcc is not installed";
        if (!File.Exists("/usr/bin/perf") && !File.Exists("/usr/local/bin/perf")) return "Linux perf is not installed";
        return null;
    }

    public static string Binary(string name) => Path.Combine(Binaries.Value, name);

    /// <summary>
    /// The recording of <paramref name="sample"/> with <paramref name="args"/> (a sample name in the arguments means
    /// that sample's binary) and the intel_pt terms <paramref name="events"/> (null: perf's defaults).
    /// </summary>
    public static Recording Get(string sample, string[] args, string? events = null)
    {
        string key = $"{sample} {string.Join(' ', args)} {events}";
        return Cache.GetOrAdd(key, _ => new Lazy<Recording>(() => Make(sample, args, events), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private static Recording Make(string sample, string[] args, string? events)
    {
        string name = $"{sample}-{Cache.Count}-{Guid.NewGuid():N}"[..24];
        string data = Path.Combine(Dir, name + ".data"), truth = Path.Combine(Dir, name + ".gt");
        string[] resolved = [.. args.Select(a => File.Exists(Path.Combine(Binaries.Value, a)) ? Path.Combine(Binaries.Value, a) : a)];
        string[] e = events is null ? [] : ["-e", events];
        ProcessResult r = Tool.Run(["record", "--soft-pt", .. e, "--ground-truth", truth, "-o", data, "--", Binary(sample), .. resolved], TimeSpan.FromSeconds(180));
        Assert.True(File.Exists(data) && File.Exists(truth) && r.Stderr.Contains("Captured and wrote"), $"record --soft-pt {sample} failed: {r}");
        return new Recording(data, truth, r);
    }

    private static string Build()
    {
        string source = Path.Combine(PtTestSupport.RepoRoot, "samples", "softpt");
        string output = Path.Combine(Dir, "bin");
        Directory.CreateDirectory(output);
        foreach (string c in Directory.GetFiles(source, "*.c"))
        {
            string exe = Path.Combine(output, Path.GetFileNameWithoutExtension(c));
            var r = ProcessRunner.Run("gcc", ["-O0", "-g", "-pthread", "-o", exe, c], TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, $"gcc failed for {c}: {r}");
        }
        return output;
    }

    /// <summary>Reads "# pid P tid T" sections of hex addresses (the ground truth, and our addresses format).</summary>
    public static List<ThreadFlow> ParseFlows(string text)
    {
        var flows = new List<ThreadFlow>();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# pid ", StringComparison.Ordinal))
            {
                string[] p = line.Split(' ');
                flows.Add(new ThreadFlow(int.Parse(p[2], CultureInfo.InvariantCulture), int.Parse(p[4], CultureInfo.InvariantCulture), []));
                continue;
            }
            Assert.True(flows.Count > 0, $"an address before any '# pid P tid T' line: {line}");
            Assert.False(line.StartsWith('['), $"a decode error: {line}");
            flows[^1].Addresses.Add(ulong.Parse(line, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        return flows;
    }

    /// <summary>Equal sequences, or a failure that shows where they part and the addresses around it.</summary>
    public static void AssertSameAddresses(IReadOnlyList<ulong> expected, IReadOnlyList<ulong> actual, string what)
    {
        int n = 0;
        while (n < expected.Count && n < actual.Count && expected[n] == actual[n]) n++;
        if (n == expected.Count && n == actual.Count) return;
        string Around(IReadOnlyList<ulong> l) => string.Join(' ', l.Skip(Math.Max(0, n - 3)).Take(6).Select(a => a.ToString("x", CultureInfo.InvariantCulture)));
        Assert.Fail($"{what}: {expected.Count} expected, {actual.Count} decoded; first difference at #{n}: expected ...{Around(expected)}..., decoded ...{Around(actual)}...");
    }
}
