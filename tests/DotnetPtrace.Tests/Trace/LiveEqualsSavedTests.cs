using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.SoftPtEncoder;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>
/// Issue 9's first proof: decoding while recording gives what decoding the saved recording gives afterwards. Each
/// sample runs under `trace --soft-pt` (the command is single-stepped, encoded, and its trace then goes through the
/// live pipeline, a PSB every 2 KiB so each thread's trace is decoded in many windows); the live output of the run,
/// and `trace -i` of the kept file per thread in calls, branches and insn formats, must equal `decode -i` of that
/// file byte for byte. The flow itself is held to the single-stepped ground truth (the tracer's own record of every
/// executed address, which no decoder wrote).
/// </summary>
[Collection("live recording")]
public sealed class LiveEqualsSavedTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-trace-live-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("control_flow")]
    [InlineData("threads")]
    [InlineData("signals")]
    public void Live_output_equals_the_saved_recording_decoded_afterwards(string sample)
    {
        if (TraceTestSupport.MissingPrerequisite() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        string program = SoftPtSamples.Path(sample, SoftPtBuild.Static);
        string data = Path.Combine(_dir, $"{sample}.data"), truth = Path.Combine(_dir, $"{sample}.gt");

        // The live pipeline end to end, as a user runs it.
        var run = Tool.Run(["trace", "--soft-pt", "-e", "intel_pt/psb_period=0/u", "-o", data, "--ground-truth", truth, "--format", "calls", "--", program],
            TimeSpan.FromMinutes(3));
        output.WriteLine(run.Stderr);
        var native = ProcessRunner.Run(program, [], TimeSpan.FromMinutes(1));
        Assert.True(run.ExitCode == (native.ExitCode < 0 ? 128 - native.ExitCode : native.ExitCode), run.ToString());
        Assert.True(File.Exists(data), "-o keeps the recording");
        // The command's own output comes first (it runs to its end before its trace is encoded), then the flow.
        string savedCalls = TraceTestSupport.Decode(data, DecodeFormat.Calls, null);
        Assert.EndsWith(savedCalls, run.Stdout);
        Assert.Equal(native.Stdout.Count(c => c == '\n'), run.Stdout[..^savedCalls.Length].Count(c => c == '\n'));
        Assert.Contains("0 skipped", run.Stderr);

        var threads = GroundTruthReader.Read(truth).Where(t => t.Addresses.Length > 0).ToList();
        var streams = TraceTestSupport.Streams(data);
        Assert.Equal(threads.Select(t => t.Tid).Distinct().Order(), streams.Select(s => s.Key.Tid).Order());
        foreach (var (key, bytes, _) in streams)
        {
            foreach (DecodeFormat format in new[] { DecodeFormat.Calls, DecodeFormat.Branches, DecodeFormat.Insn })
            {
                var live = TraceTestSupport.TraceFile(data, format, key.Tid);
                Assert.Equal(0, live.Code);
                string saved = TraceTestSupport.Decode(data, format, key.Tid);
                Assert.False(string.IsNullOrEmpty(saved));
                Assert.True(saved == live.Stdout, $"{sample} tid {key.Tid} --format {format}: live differs from saved at line {FirstDifference(saved, live.Stdout)}");
                // Decoded in pieces: as many windows as the trace has PSB segments, less the last.
                long windows = long.Parse(Regex.Match(live.Stderr, @"(\d+) windows decoded").Groups[1].Value, CultureInfo.InvariantCulture);
                Assert.True(windows >= bytes.Length / 2048 / 2, $"{bytes.Length} bytes of trace decoded in only {windows} windows");
            }
            // The flow is the executed one: every address the tracer single-stepped, in order.
            var addresses = TraceTestSupport.TraceFile(data, DecodeFormat.Addresses, key.Tid).Stdout
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).ToList();
            Assert.DoesNotContain(addresses, l => l.StartsWith('['));
            ulong[] expected = threads.Where(t => t.Tid == key.Tid).SelectMany(t => t.Addresses).ToArray();
            SoftPtTestSupport.AssertSameAddresses(expected, addresses.Select(l => ulong.Parse(l.Trim(), NumberStyles.HexNumber)).ToList(), $"{sample} tid {key.Tid}");
            output.WriteLine($"{sample} tid {key.Tid}: {bytes.Length} bytes of trace, {expected.Length} instructions: live == saved in calls, branches, insn");
        }
    }

    private static int FirstDifference(string a, string b)
    {
        string[] x = a.Split('\n'), y = b.Split('\n');
        for (int i = 0; i < Math.Min(x.Length, y.Length); i++) if (x[i] != y[i]) return i + 1;
        return Math.Min(x.Length, y.Length) + 1;
    }
}
