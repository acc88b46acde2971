using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.IntelPt;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>
/// `trace -i -` on a real Intel PT recording that Linux perf 4.14 wrote in pipe mode (Skylake, two per-CPU streams,
/// ../shared/testdata/perf-data/perf.data.piped.intel_pt-4.14), piped into standard input: the live decode of the
/// stream as it arrives lists the same branches (and the same errors, where the kernel's and ld.so's code is
/// missing) as `decode` of the same file. Per-CPU streams are decoded as their chunks arrive, so the two CPUs' lines
/// interleave differently from `decode`'s stream-by-stream listing: the lines are compared as a multiset.
/// </summary>
public sealed class PipeInputTests(ITestOutputHelper output)
{
    private static string Piped => Path.GetFullPath(Path.Combine(PtTestSupport.RepoRoot, "..", "shared", "testdata", "perf-data", "perf.data.piped.intel_pt-4.14"));

    [Fact]
    public void A_perf_pipe_stream_on_stdin_decodes_as_the_file_does()
    {
        if (!File.Exists(Piped)) { output.WriteLine($"skipped: {Piped} is missing"); return; }
        var live = ProcessRunner.Run("sh", ["-c", $"cat '{Piped}' | dotnet '{Tool.DllPath}' trace -i - --format branches"], TimeSpan.FromMinutes(1));
        output.WriteLine(live.Stderr);
        Assert.Equal(0, live.ExitCode);
        string saved = TraceTestSupport.Decode(Piped, DecodeFormat.Branches, null);
        string[] Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
        Assert.NotEmpty(Lines(saved));
        Assert.Equal(Lines(saved), Lines(live.Stdout));
        // Both AUXTRACE payloads of the pipe file (0x12a70 + 0x10a60 bytes, as `dump` lists them), all decoded.
        Assert.Contains("2 stream(s), 144,592 bytes of trace: 144,592 decoded, 0 skipped", live.Stderr);
    }
}
