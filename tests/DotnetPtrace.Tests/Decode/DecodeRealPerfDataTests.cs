using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Decode;

/// <summary>
/// The real Skylake recording (../shared/testdata/perf-data/perf.data.intel_pt-4.14: perf 4.14, per-CPU, user and
/// kernel, `echo`), whose binaries are not public: decode names the missing images by path and build-id (checked
/// against quipper's .buildids list of the same file), still decodes events and time (checked against perf's own
/// `perf script --itrace=be` of the file), and ends with a clear summary.
/// </summary>
public sealed partial class DecodeRealPerfDataTests(ITestOutputHelper log)
{
    private static string PerfData => Path.GetFullPath(Path.Combine(PtTestSupport.RepoRoot, "..", "shared", "testdata", "perf-data"));
    private static string File_ => Path.Combine(PerfData, "perf.data.intel_pt-4.14");
    private static string Golden => Path.GetFullPath(Path.Combine(PtTestSupport.RepoRoot, "..", "shared", "testdata", "pt-real", "skylake-perf-4.14", "perf-script-itrace-be.txt"));

    [Fact]
    public void Missing_images_are_reported_once_with_path_and_build_id()
    {
        if (!File.Exists(File_)) { log.WriteLine($"skipped: {File_} is absent"); return; }
        var buildIds = File.ReadAllLines(File_ + ".buildids").Select(l => l.Split(' ', 2)).ToDictionary(p => p[1], p => p[0]);
        var r = Tool.Run(["decode", "-i", File_, "--format", "addresses"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] err = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // The summary: both CPUs' trace (12,240 + 137,728 bytes, as the testdata README lists them), errors counted.
        Assert.Contains(err, l => l.Contains(": 2 per-CPU stream(s), 149,968 bytes of trace: "));
        Assert.Contains(err, l => l.StartsWith("decode: lost data: 0 TRUNCATED and 0 PARTIAL AUX records, 0 overflows (OVF)", StringComparison.Ordinal));

        // Each image the trace needed: once as it is met, once in the summary; path and build-id as the file lists them.
        var needed = err.Select(l => MissingLine().Match(l)).Where(m => m.Success).ToList();
        Assert.Contains(needed, m => m.Groups[1].Value == "/lib64/ld-2.23.so");
        Assert.Contains(needed, m => m.Groups[1].Value.StartsWith("[kernel.kallsyms]", StringComparison.Ordinal));
        foreach (Match m in needed)
        {
            string path = m.Groups[1].Value, key = path.StartsWith("[kernel.kallsyms]", StringComparison.Ordinal) ? "[kernel.kallsyms]" : path;
            Assert.True(buildIds.TryGetValue(key, out string? id), $"{path} is not in the .buildids list");
            Assert.Equal(id, m.Groups[2].Value);
            Assert.Single(err, l => l.StartsWith($"decode: warning: missing image the trace needs: {path} ", StringComparison.Ordinal));
            Assert.Single(err, l => l.StartsWith($"decode: missing image: {path} ", StringComparison.Ordinal));
        }

        // Decoding went on past them: every error has its file offset, inside the file, and names the IP.
        string[] errors = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(errors);
        long length = new FileInfo(File_).Length;
        foreach (string e in errors)
        {
            Match m = ErrorLine().Match(e);
            Assert.True(m.Success, $"not an error line with offset and IP: {e}");
            Assert.InRange(long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture), 0, length - 1);
        }
        // perf stops at the same first instruction it cannot read (its first "Failed to get instruction").
        string firstPerfError = File.ReadLines(Golden).First(l => l.Contains("code 5: Failed to get instruction"));
        Assert.Contains(errors, e => firstPerfError.Contains($"ip 0x{ErrorLine().Match(e).Groups[2].Value} "));
        log.WriteLine(string.Join('\n', err));
    }

    [Fact]
    public void Events_and_times_agree_with_perf_script()
    {
        if (!File.Exists(File_) || !File.Exists(Golden)) { log.WriteLine("skipped: the Skylake perf.data or its golden is absent"); return; }
        var r = Tool.Run(["decode", "-i", File_, "--format", "events"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var enabled = new List<(string Time, int Tid, ulong Ip)>();
        var interrupts = new List<(string Time, ulong From, ulong To)>();
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);   // time tid offset event...
            Assert.Equal("3174", f[1]);   // perf attributes every line to echo/perf, pid 3174; so must the switch sideband
            if (f[3] == "enabled") enabled.Add((f[0], int.Parse(f[1], CultureInfo.InvariantCulture), Hex(f[4])));
            if (f[3] == "interrupt") interrupts.Add((f[0], Hex(f[4]), Hex(f[6])));
        }
        Assert.NotEmpty(enabled);

        // perf prints microseconds for samples and nanoseconds in its error lines.
        var starts = new HashSet<(string, ulong)>();
        var hwInts = new List<(string, ulong, ulong)>();
        var errorTimes = new List<(string Time, ulong Ip)>();
        foreach (string line in File.ReadLines(Golden))
        {
            if (PerfBranch().Match(line) is { Success: true } b)
            {
                if (b.Groups[2].Value == "tr strt") starts.Add((b.Groups[1].Value, Hex(b.Groups[4].Value)));
                if (b.Groups[2].Value == "hw int") hwInts.Add((b.Groups[1].Value, Hex(b.Groups[3].Value), Hex(b.Groups[4].Value)));
            }
            if (PerfErrorTime().Match(line) is { Success: true } e) errorTimes.Add((e.Groups[1].Value, Hex(e.Groups[2].Value)));
        }
        static string Micro(string ns) => ns[..^3];
        foreach (var (time, _, ip) in enabled)
        {
            Assert.True(starts.Contains((Micro(time), ip)), $"our enable at {time} to {ip:x} is not among perf's 'tr strt' lines");
            foreach (var (perfTime, _) in errorTimes.Where(e => e.Ip == ip && Micro(e.Time) == Micro(time)))
                Assert.Equal(perfTime, time);
        }
        foreach (var (time, from, to) in hwInts)
            Assert.True(interrupts.Any(i => Micro(i.Time) == time && i.From == from && i.To == to),
                $"perf's 'hw int' {from:x} -> {to:x} at {time} is not among our interrupt events");
        int nsChecked = enabled.Count(e => errorTimes.Any(p => p.Ip == e.Ip && p.Time == e.Time));
        Assert.True(nsChecked > 0, "no enable event could be checked to the nanosecond against perf's error lines");
        log.WriteLine($"{enabled.Count} enables all among perf's {starts.Count} trace starts ({nsChecked} equal to the ns); perf's {hwInts.Count} interrupts all among our {interrupts.Count}");
    }

    [Fact]
    public void Pipe_mode_and_standard_input_decode_like_files()
    {
        string piped = Path.Combine(PerfData, "perf.data.piped.intel_pt-4.14");
        if (!File.Exists(piped)) { log.WriteLine($"skipped: {piped} is absent"); return; }
        var fromFile = Tool.Run(["decode", "-i", piped, "--format", "events"]);
        Assert.True(fromFile.ExitCode == 0, fromFile.ToString());
        Assert.Contains(": 2 per-CPU stream(s), ", fromFile.Stderr);
        Assert.Contains(" enabled ", fromFile.Stdout);
        // The same bytes through standard input (kept in a temporary file for the trace, read by offset).
        var fromStdin = ProcessRunner.Run("sh", ["-c", $"dotnet '{Tool.DllPath}' decode -i - --format events < '{piped}'"], TimeSpan.FromSeconds(120));
        Assert.True(fromStdin.ExitCode == 0, fromStdin.ToString());
        Assert.Equal(fromFile.Stdout, fromStdin.Stdout);
    }

    private static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^decode: missing image: (.+?) \(build-id ([0-9a-f]+)\): ")]
    private static partial Regex MissingLine();

    [GeneratedRegex(@"^\[([0-9a-f]+), ([0-9a-f]+): (sync )?error: [a-z ]+\]$")]
    private static partial Regex ErrorLine();

    [GeneratedRegex(@"^\s*\S+\s+\d+\s+([\d.]+):\s+\d+\s+branches:\s+(tr strt|hw int|tr end)\s+([0-9a-f]+) .*=>\s+([0-9a-f]+) ")]
    private static partial Regex PerfBranch();

    [GeneratedRegex(@"instruction trace error .* time ([\d.]+) cpu \d+ .* ip 0x([0-9a-f]+) ")]
    private static partial Regex PerfErrorTime();
}
