using System.Diagnostics;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Record;

[Collection("live recording")]
public class AttachAndSystemWideTests(ITestOutputHelper output) : IClassFixture<ScratchDirectory>
{
    private readonly ScratchDirectory _scratch = new();

    private static Process StartSample(string path, params string[] args)
    {
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        return p;
    }

    [Fact]
    public void Attaching_to_a_running_multithreaded_process_samples_every_thread_and_synthesizes_its_mmaps()
    {
        using var target = StartSample(SampleBinaries.Threads, "3", "20000");
        try
        {
            Assert.Equal("ready", target.StandardOutput.ReadLine());
            var tids = Directory.GetDirectories($"/proc/{target.Id}/task").Select(Path.GetFileName).ToHashSet();
            Assert.Equal(4, tids.Count);
            string file = _scratch.File("attach.data");
            var r = Tool.Run(["record", "-e", "cpu-clock", "-p", target.Id.ToString(), "--duration", "1", "-o", file]);
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.False(target.HasExited, "attaching must not disturb the target");

            string script = Perf.Script(file, "comm,pid,tid,event,ip,sym,dso", "--show-mmap-events");
            var sampledTids = Regex.Matches(script, $@"threads\s+{target.Id}/(\d+)\s+cpu-clock").Select(m => m.Groups[1].Value).ToHashSet();
            Assert.Superset(tids!, sampledTids);
            Assert.Equal(tids.Count, sampledTids.Count);
            Assert.Contains(script.Split('\n'), l => l.Contains("PERF_RECORD_MMAP2") && l.Contains(SampleBinaries.Threads));
            Assert.Contains("worker_spin", script);
        }
        finally { target.Kill(); }
    }

    [Fact]
    public void Attaching_to_one_thread_records_only_that_thread()
    {
        using var target = StartSample(SampleBinaries.Threads, "2", "20000");
        try
        {
            Assert.Equal("ready", target.StandardOutput.ReadLine());
            string worker = Directory.GetDirectories($"/proc/{target.Id}/task").Select(Path.GetFileName).First(t => t != target.Id.ToString())!;
            string file = _scratch.File("tid.data");
            var r = Tool.Run(["record", "-e", "cpu-clock", "-t", worker, "--duration", "0.7", "-o", file]);
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            var sampledTids = Regex.Matches(Perf.Script(file, "comm,pid,tid,event"), $@"{target.Id}/(\d+)\s+cpu-clock").Select(m => m.Groups[1].Value).ToHashSet();
            Assert.Equal([worker], sampledTids);
        }
        finally { target.Kill(); }
    }

    [Fact]
    public void System_wide_recording_samples_every_cpu()
    {
        var online = ReadOnlineCpus();
        using var busy1 = StartSample(SampleBinaries.CpuBound, "3000");
        using var busy2 = StartSample(SampleBinaries.CpuBound, "3000");
        try
        {
            string file = _scratch.File("all.data");
            var r = Tool.Run(["record", "-a", "-e", "cpu-clock", "--duration", "1", "-o", file]);
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            string script = Perf.Script(file, "comm,cpu,event");
            var cpus = Regex.Matches(script, @"\[(\d{3})\]").Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
            Assert.Equal(online, cpus.Order().ToList());
            Assert.Contains("cpu_bound", script);
        }
        finally { busy1.Kill(); busy2.Kill(); }
    }

    [Fact]
    public void A_cpu_list_limits_system_wide_recording()
    {
        string file = _scratch.File("cpu0.data");
        using var busy = StartSample(SampleBinaries.CpuBound, "2000");
        using var busy2 = StartSample(SampleBinaries.CpuBound, "2000");
        try
        {
            var r = Tool.Run(["record", "-C", "0", "-e", "cpu-clock", "--duration", "0.5", "-o", file]);
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            var cpus = Regex.Matches(Perf.Script(file, "cpu,event"), @"\[(\d{3})\]").Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
            Assert.Equal([0], cpus);
        }
        finally { busy.Kill(); busy2.Kill(); }
    }

    private static List<int> ReadOnlineCpus()
    {
        var cpus = new List<int>();
        foreach (string part in File.ReadAllText("/sys/devices/system/cpu/online").Trim().Split(','))
        {
            var r = part.Split('-').Select(int.Parse).ToArray();
            for (int c = r[0]; c <= r[^1]; c++) cpus.Add(c);
        }
        return cpus;
    }
}
