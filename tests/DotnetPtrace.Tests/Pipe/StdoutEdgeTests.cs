using System.Diagnostics;
using DotnetPtrace.Tests.Decode;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Pipe;

/// <summary>
/// The two ways `-o -` meets an unusual stdout: a terminal (refused with one line before anything starts) and a
/// reader that goes away (`| head`: recording stops cleanly, no crash trace, the command's exit status).
/// </summary>
[Collection("live recording")]
public sealed class StdoutEdgeTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("-e cpu-clock -- /bin/true")]
    [InlineData("--soft-pt -- /bin/true")]
    public void A_terminal_on_stdout_is_refused_with_one_line(string arguments)
    {
        // util-linux script(1) runs the command on a pseudo-terminal: stdout is then a tty, as in an interactive shell.
        if (!File.Exists("/usr/bin/script")) { log.WriteLine("skipped: script(1) from util-linux is not installed"); return; }
        var r = PipeShell.Run($"script -qec \"{PipeShell.Tool} record -o - {arguments}\" /dev/null");
        log.WriteLine(r.ToString());
        Assert.Equal(1, r.ExitCode);
        string output = r.Stdout.Replace("\r", "");
        // .NET puts the terminal in keypad mode first (ESC [?1h ESC =): the message is what follows.
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("dotnet-ptrace")).ToList();
        string line = Assert.Single(lines);
        Assert.Equal("dotnet-ptrace record: -o - writes a binary perf.data stream to stdout, which is a terminal; pipe it (| dotnet-ptrace script -i -) or redirect it (> FILE)",
            line[line.IndexOf("dotnet-ptrace record:", StringComparison.Ordinal)..].Trim());
        Assert.DoesNotContain("PERFILE2", output);
    }

    [Fact]
    public void A_reader_that_goes_away_stops_the_recording_cleanly()
    {
        // cpu_bound would run 20 s; head takes the first 1000 bytes and leaves. We stop at the broken pipe, end the
        // command as for any early stop (SIGTERM, as perf does), and exit with its status: 128 + 15.
        var clock = Stopwatch.StartNew();
        var r = PipeShell.Run($"{PipeShell.Tool} record -o - -e cpu-clock -- '{SampleBinaries.CpuBound}' 20000 | head -c 1000 | wc -c; echo \"status ${{PIPESTATUS[0]}}\"", 60);
        log.WriteLine(r.ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.Contains("1000\nstatus 143", r.Stdout);
        Assert.Contains("dotnet-ptrace record: the reader of the stream went away (broken pipe)", r.Stderr);
        AssertNoCrashTrace(r.Stderr);
    }

    [Fact]
    public void A_soft_pt_stream_whose_reader_left_ends_with_the_command_status()
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        string program = SoftPtSamples.Path("control_flow", SoftPtBuild.Static);
        // The reader leaves before anything is written (software PT writes once the command has ended), so the very
        // first write meets the closed pipe.
        var r = PipeShell.Run($"{PipeShell.Tool} record -q --soft-pt -o - -- '{program}' | true; echo \"status ${{PIPESTATUS[0]}}\"", 180);
        log.WriteLine(r.ToString());
        Assert.Contains("status 0", r.Stdout);
        Assert.Contains("went away (broken pipe)", r.Stderr);
        AssertNoCrashTrace(r.Stderr);
    }

    private static void AssertNoCrashTrace(string stderr)
    {
        Assert.DoesNotContain("Unhandled exception", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("internal error", stderr);
    }
}
