using System.Runtime.InteropServices;
using System.Diagnostics;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Record;

/// <summary>Every way a recording can end badly still leaves a file perf reads, with everything captured before.</summary>
[Collection("live recording")]
public class FaultTests(ITestOutputHelper output) : IClassFixture<ScratchDirectory>
{
    private readonly ScratchDirectory _scratch = new();

    private static ProcessResult Finish(Process p)
    {
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60))) { p.Kill(true); throw new TimeoutException("recorder did not stop"); }
        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result, TimeSpan.Zero);
    }

    private static int WaitForChild(int parent, string comm)
    {
        for (int i = 0; i < 200; i++)
        {
            foreach (string dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    if (File.ReadAllText($"{dir}/comm").Trim() == comm && File.ReadAllText($"{dir}/stat").Split(' ')[3] == parent.ToString())
                        return pid;
                }
                catch (IOException) { }
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"no child {comm} of {parent}");
    }

    [Fact]
    public void The_target_killed_mid_record_leaves_a_readable_file_and_its_status()
    {
        string file = _scratch.File("killed.data");
        using var recorder = Tool.Start(["record", "-e", "cpu-clock", "-o", file, "--", SampleBinaries.CpuBound, "30000"]);
        int child = WaitForChild(recorder.Id, "cpu_bound");
        Thread.Sleep(700);
        Process.GetProcessById(child).Kill();
        var r = Finish(recorder);
        output.WriteLine(r.ToString());
        Assert.Equal(128 + 9, r.ExitCode);
        string script = Perf.Script(file, "comm,event,ip,sym");
        Assert.True(Regex.Matches(script, "hot_spin").Count > 100, "samples before the kill are missing");
    }

    [Theory]
    [InlineData(2)]   // SIGINT
    [InlineData(15)]  // SIGTERM
    public void The_recorder_signalled_mid_record_finishes_the_file(int signal)
    {
        string file = _scratch.File($"signal{signal}.data");
        using var recorder = Tool.Start(["record", "-e", "cpu-clock", "-o", file, "--", SampleBinaries.CpuBound, "30000"]);
        WaitForChild(recorder.Id, "cpu_bound");
        Thread.Sleep(700);
        Assert.Equal(0, Kill(recorder.Id, signal));
        var r = Finish(recorder);
        output.WriteLine(r.ToString());
        // The command got SIGTERM from us (as perf does) and its status is ours.
        Assert.Equal(128 + 15, r.ExitCode);
        Assert.Contains("Captured and wrote", r.Stderr);
        string script = Perf.Script(file, "comm,event,ip,sym");
        Assert.True(Regex.Matches(script, "hot_spin").Count > 100);
    }

    [Fact]
    public void Attach_stopped_by_SIGINT_exits_zero_with_a_complete_file()
    {
        using var target = Process.Start(new ProcessStartInfo(SampleBinaries.Threads) { ArgumentList = { "1", "20000" }, RedirectStandardOutput = true })!;
        try
        {
            target.StandardOutput.ReadLine();
            string file = _scratch.File("attach-int.data");
            using var recorder = Tool.Start(["record", "-e", "cpu-clock", "-p", target.Id.ToString(), "-o", file]);
            Thread.Sleep(1500);
            Kill(recorder.Id, 2);
            var r = Finish(recorder);
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.False(target.HasExited);
            Assert.Contains("worker_spin", Perf.Script(file, "comm,event,ip,sym"));
        }
        finally { target.Kill(); }
    }

    [Fact]
    public void A_full_disk_keeps_what_was_written_and_says_so()
    {
        string mount = Directory.CreateTempSubdirectory("dotnet-ptrace-tmpfs-").FullName;
        var m = ProcessRunner.Run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], TimeSpan.FromSeconds(10));
        Assert.True(m.ExitCode == 0, $"mounting a tmpfs needs root: {m}");
        try
        {
            string file = Path.Combine(mount, "full.data");
            var r = Tool.Run(["record", "-e", "cpu-clock", "-F", "4000", "-o", file, "--", SampleBinaries.CpuBound, "5000"]);
            output.WriteLine(r.ToString());
            Assert.Equal(3, r.ExitCode);
            Assert.Matches("writing .*full.data failed after \\d+ bytes of data: .*(No space left on device|space)", r.Stderr);
            Assert.Single(r.Stderr.Split('\n'), l => l.Contains("failed"));
            // The command did not run its 5 s: the recording stopped at the error.
            Assert.True(r.Elapsed < TimeSpan.FromSeconds(4.5), $"took {r.Elapsed}");
            var script = Perf.Run("script", "-i", file, "-F", "comm,event,ip,sym");
            Assert.Equal(0, script.ExitCode);
            Assert.True(Regex.Matches(script.Stdout, "cpu-clock").Count > 100, script.ToString());
        }
        finally { ProcessRunner.Run("umount", ["-l", mount], TimeSpan.FromSeconds(10)); }
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
