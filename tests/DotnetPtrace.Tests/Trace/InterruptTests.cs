using System.Diagnostics;
using System.Runtime.InteropServices;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>
/// Issue 9's third proof: Ctrl-C (SIGINT) in the middle of `trace`: the output so far is flushed (whole lines),
/// the kept file is finished and Linux perf reads it and decodes its trace without complaint, and the exit code is
/// 130 (no command of ours ran; --simulate replays a recording).
/// </summary>
public sealed partial class InterruptTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-trace-int-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [Fact]
    public async Task Ctrl_C_flushes_the_output_finishes_the_file_and_exits_130()
    {
        if (TraceTestSupport.MissingPrerequisite() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        string kept = Path.Combine(_dir, "interrupted.data");
        // The recording's few KB (4.7 KB today) replayed at 1 KB/s in 128-byte bursts: seconds, interrupted after 2.
        using Process trace = Tool.Start(["trace", "--simulate", TraceTestSupport.ControlFlowRecording, "--rate", "1K", "--burst", "128",
            "-o", kept, "--format", "calls"]);
        var stdout = trace.StandardOutput.ReadToEndAsync();
        var stderr = trace.StandardError.ReadToEndAsync();
        await Task.Delay(2000);
        Assert.False(trace.HasExited, "trace ended before it could be interrupted");
        Assert.Equal(0, Kill(trace.Id, 2));
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await trace.WaitForExitAsync(timeout.Token);
        string errText = await stderr;
        output.WriteLine(errText);
        Assert.Equal(130, trace.ExitCode);

        string text = await stdout;
        Assert.True(text.Length > 0, "nothing was printed before the interrupt");
        Assert.EndsWith("\n", text);
        Assert.Contains("[ dotnet-ptrace trace:", errText);
        // Interrupted: the producer did not get to the end of the recording.
        int total = Assert.Single(TraceTestSupport.Streams(TraceTestSupport.ControlFlowRecording)).Bytes.Length;
        var produced = System.Text.RegularExpressions.Regex.Match(errText, @"SIMULATED AUX producer: ([\d,]+) of ([\d,]+) bytes");
        Assert.True(produced.Success, errText);
        Assert.Equal(total, int.Parse(produced.Groups[2].Value, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(int.Parse(produced.Groups[1].Value, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture) < total,
            "the whole recording was replayed before the interrupt");

        var script = Perf.Run("script", "-i", kept, "--itrace=i0ns", "-F", "ip");
        Perf.AssertClean(script, allowLost: false);
        int instructions = script.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        Assert.True(instructions > 0, "perf finds no trace in the interrupted file");
        var errors = Perf.Run("script", "-i", kept, "--itrace=e");
        Perf.AssertClean(errors, allowLost: false);
        output.WriteLine($"{new FileInfo(kept).Length} bytes kept; perf decodes {instructions} instructions from them");
    }
}
