using System.Globalization;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Decode;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Pipe;

/// <summary>
/// `record --soft-pt -o -`: the software Intel PT recording as a pipe-mode stream, decoded from stdin by us and by
/// perf. Oracles: the single-stepped ground truth of the same run (ptrace: every executed address) and perf 6.1's
/// Intel PT decoder reading the stream through a pipe.
/// </summary>
[Collection("live recording")]
public sealed class SoftPtStreamTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-pipe-softpt-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>control_flow: calls, a jump table, deep recursion, longjmp. vdso: code no file holds, which the stream
    /// must carry itself (our captured-code records) for the decode to reach the ground truth.</summary>
    [Theory]
    [InlineData("control_flow")]
    [InlineData("vdso")]
    public void The_stream_decodes_to_the_ground_truth_by_us_and_by_perf(string sample)
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        string program = SoftPtSamples.Path(sample, SoftPtBuild.Static);
        string truth = Path.Combine(_dir, sample + ".gt"), stream = Path.Combine(_dir, sample + ".pipe");

        var r = PipeShell.Run($"{PipeShell.Tool} record -q --soft-pt -o - --ground-truth '{truth}' -- '{program}' | tee '{stream}' | {PipeShell.Tool} decode -i - --format addresses", 180);
        Assert.True(r.ExitCode == 0, r.ToString());
        string expected = File.ReadAllText(truth);
        Assert.True(expected == r.Stdout, $"decode -i - differs from the ground truth:\n{r.Stderr}");
        Assert.Contains(" 0 errors, 0 gaps", r.Stderr);
        if (sample == "control_flow")
            Assert.Contains("acc ", r.Stderr);   // the command's stdout went to stderr, off the stream

        using (var reader = PerfDataReader.Open(stream))
        {
            while (reader.TryRead(out _)) { }
            Assert.True(reader.IsPipe);
            Assert.Null(reader.Error);
            if (sample == "vdso")
                Assert.Contains(reader.Features, f => (int)f.Feature == CapturedCode.FeatureBit);
        }

        // perf, through a pipe: the same addresses, and no trace error (--itrace=e).
        var perf = PipeShell.PerfOn(stream, "script --itrace=i0nse -F ip", allowPipeModePtWarning: true);
        var perfAddresses = perf.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => { string t = l.Trim(); Assert.False(t.Contains("error"), $"perf: {t}"); return ulong.Parse(t, NumberStyles.HexNumber, CultureInfo.InvariantCulture); })
            .ToList();
        var truthAddresses = GroundTruthReader.Read(truth).SelectMany(t => t.Addresses).ToList();
        SoftPtRecordings.AssertSameAddresses(truthAddresses, perfAddresses, $"{sample}: perf script -i -");
        log.WriteLine($"{sample}: {truthAddresses.Count} instructions, {new FileInfo(stream).Length} bytes of stream");
    }
}
