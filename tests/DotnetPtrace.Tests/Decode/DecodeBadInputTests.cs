using System.Text.RegularExpressions;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Decode;

/// <summary>
/// Damaged perf.data files (cut short, bits flipped, trace shuffled) through `decode -i`, in process: never an
/// exception, never a hang; either a one-line error naming the offset, or a decode whose errors all carry offsets.
/// </summary>
public sealed partial class DecodeBadInputTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-decode-bad-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string? Skylake
    {
        get
        {
            string p = Path.GetFullPath(Path.Combine(PtTestSupport.RepoRoot, "..", "shared", "testdata", "perf-data", "perf.data.intel_pt-4.14"));
            return File.Exists(p) ? p : null;
        }
    }

    /// <summary>Recordings to damage: the soft-PT fork_exec sample (per-thread, exec, fork) and the real Skylake file (per-CPU).</summary>
    private List<(string What, byte[] Bytes)> Originals()
    {
        var list = new List<(string, byte[])>();
        if (SoftPtRecordings.MissingPrerequisite() is null)
            list.Add(("soft-PT fork_exec", File.ReadAllBytes(SoftPtRecordings.Get("fork_exec", ["syscalls", "5"]).Data)));
        if (Skylake is { } s) list.Add(("perf.data.intel_pt-4.14", File.ReadAllBytes(s)));
        if (list.Count == 0) log.WriteLine("skipped: no recording to damage (no gcc/perf, no testdata)");
        return list;
    }

    [Fact]
    public void Truncated_files_end_with_an_error_or_a_partial_decode()
    {
        foreach (var (what, original) in Originals()) Truncations(what, original);
    }

    private void Truncations(string what, byte[] original)
    {
        var lengths = new SortedSet<int> { 0, 7, 8, 16, 100, 103, 104, 105 };
        for (int i = 1; i < 60; i++) lengths.Add((int)((long)original.Length * i / 60));
        foreach (AuxtraceBuffer b in Buffers(original))
            for (int k = -1; k <= 48; k += 7) lengths.Add((int)Math.Clamp(b.FileOffset + k, 0, original.Length - 1));
        foreach (int n in lengths) Check(original.AsSpan(0, n).ToArray(), $"{what} cut to {n} bytes");
        log.WriteLine($"{lengths.Count} truncations of {what}: no exception, no hang");
    }

    [Fact]
    public void Bit_flips_anywhere_never_crash()
    {
        foreach (var (what, original) in Originals()) BitFlips(what, original);
    }

    private void BitFlips(string what, byte[] original)
    {
        var random = new Random(6);
        var payload = Buffers(original).ToList();
        for (int i = 0; i < 100; i++)
        {
            byte[] copy = (byte[])original.Clone();
            // Half the flips in the trace bytes, half anywhere (header, attrs, records, features).
            int flips = 1 + random.Next(8);
            for (int f = 0; f < flips; f++)
            {
                int at;
                if (i % 2 == 0 && payload.Count > 0)
                {
                    AuxtraceBuffer b = payload[random.Next(payload.Count)];
                    at = (int)(b.FileOffset + random.NextInt64(b.Size));
                }
                else at = random.Next(copy.Length);
                copy[at] ^= (byte)(1 << random.Next(8));
            }
            Check(copy, $"{what} with {flips} bit flips (case {i})");
        }
        log.WriteLine($"100 bit-flipped copies of {what}: no exception, no hang");
    }

    [Fact]
    public void Shuffled_trace_is_decoded_with_errors_at_offsets()
    {
        foreach (var (what, original) in Originals()) Shuffles(what, original);
    }

    private void Shuffles(string what, byte[] original)
    {
        var random = new Random(7);
        int withErrors = 0;
        for (int i = 0; i < 10; i++)
        {
            byte[] copy = (byte[])original.Clone();
            foreach (AuxtraceBuffer b in Buffers(original))
            {
                // The trace in 64-byte pieces, in another order.
                int pieces = (int)(b.Size / 64);
                int[] order = [.. Enumerable.Range(0, pieces)];
                random.Shuffle(order);
                for (int p = 0; p < pieces; p++)
                    Array.Copy(original, b.FileOffset + order[p] * 64L, copy, b.FileOffset + p * 64L, 64);
            }
            var (code, stdout, _) = Check(copy, $"{what}, trace shuffled (case {i})");
            Assert.Equal(0, code);
            if (stdout.Contains("error: ")) withErrors++;
        }
        Assert.True(withErrors > 0, "shuffling the trace never produced a decode error");
        log.WriteLine($"10 shuffles of {what}: {withErrors} decoded with errors, all with offsets");
    }

    [Fact]
    public void Not_a_perf_data_is_a_one_line_error()
    {
        foreach (byte[] junk in new[] { "hello, world\n"u8.ToArray(), new byte[4096], Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray() })
        {
            var (code, _, stderr) = Check(junk, "junk");
            Assert.Equal(1, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        var r = Tool.Run(["decode", "-i", "/nonexistent/perf.data"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("decode: cannot read /nonexistent/perf.data: no such file", r.Stderr.Trim());
    }

    private static IEnumerable<AuxtraceBuffer> Buffers(byte[] file)
    {
        using var reader = PerfDataReader.Open(new MemoryStream(file), "mem");
        return PtRecording.Load(reader).Buffers;
    }

    /// <summary>
    /// Decodes <paramref name="data"/> (all formats that read code and the event view) within a time limit; asserts
    /// the outcome is an exit code with a one-line reason, or output whose every error line has an offset.
    /// </summary>
    private (int Code, string Stdout, string Stderr) Check(byte[] data, string what)
    {
        string path = Path.Combine(_dir, "bad.data");
        File.WriteAllBytes(path, data);
        (int, string, string) last = default;
        foreach (DecodeFormat format in new[] { DecodeFormat.Addresses, DecodeFormat.Events })
        {
            var stdout = new MemoryStream();
            var stderr = new StringWriter();
            var run = Task.Run(() => new PerfDataDecodeRunner(new DecodeOptions { Input = path, Format = format }).Run(stdout, stderr));
            Assert.True(run.Wait(TimeSpan.FromSeconds(30)), $"{what}: decode --format {format} did not finish in 30 s");
            int code = run.Result;   // rethrows an exception from the decode: a failure
            string output = System.Text.Encoding.UTF8.GetString(stdout.ToArray()), err = stderr.ToString();
            Assert.True(code is 0 or 1, $"{what}: exit {code}\n{err}");
            if (code == 1)
            {
                string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.True(lines.Length == 1 && lines[0].StartsWith("decode: ", StringComparison.Ordinal), $"{what}: not a one-line error:\n{err}");
            }
            foreach (string line in output.Split('\n'))
                if (line.Contains("error: ")) Assert.True(ErrorLine().IsMatch(line), $"{what}: an error line without offset and IP: {line}");
            last = (code, output, err);
        }
        return last;
    }

    [GeneratedRegex(@"\[[0-9a-f]+, [0-9a-f]+: (sync )?error: [a-z ,:]+\]$")]
    private static partial Regex ErrorLine();
}
