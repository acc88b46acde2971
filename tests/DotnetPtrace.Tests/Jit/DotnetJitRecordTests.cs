using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Jit;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Jit;

/// <summary>
/// `record --dotnet-jit` on the HotLoop sample, end to end: software PT through JIT code decoded with the jitdump's
/// bytes, samples named by method, and a running process asked over the diagnostics IPC. The oracles: the perf map
/// the .NET runtime wrote (where SumPrimes is), Linux perf's report and script on the same perf.data.
/// </summary>
public sealed partial class DotnetJitRecordTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-jit-").FullName;
    private readonly List<int> _pids = [];

    public void Dispose()
    {
        foreach (int pid in _pids) DotnetSample.DeleteJitFiles(pid);
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Soft_pt_with_a_delay_decodes_through_the_hot_method_with_the_jitdump_bytes_and_names_it()
    {
        string data = Path.Combine(_dir, "soft.data");
        // 1.5 s untraced (the runtime starts and compiles SumPrimes), then 1 s of single-stepping, then the command is killed.
        var r = Tool.Run(["record", "--soft-pt", "--dotnet-jit", "-D", "1500", "--duration", "1", "-o", data, "--", DotnetSample.HotLoop, "30"], TimeSpan.FromSeconds(60));
        output.WriteLine(r.Stderr);
        int pid = ReadyPid(r.Stdout);
        Assert.True(File.Exists(data), r.ToString());
        Assert.Contains("the trace was stopped before the command ended", r.Stderr);
        PerfMapEntry hot = HotMethodOf(pid);

        var insn = Tool.Run(["decode", "-i", data], TimeSpan.FromSeconds(60));
        Assert.Equal(0, insn.ExitCode);
        output.WriteLine(insn.Stderr);
        Assert.Contains($"JIT code of pid {pid} from /tmp/jit-{pid}.dump", insn.Stderr);
        Assert.Matches(@"[\d,]+ instructions, [\d,]+ blocks, [\d,]+ events, 0 errors", insn.Stderr);
        Assert.DoesNotContain("no memory mapped", insn.Stdout + insn.Stderr);
        // Instructions at SumPrimes' addresses (by the runtime's perf map), each named as the method.
        int inHot = 0;
        foreach (string line in insn.Stdout.Split('\n'))
        {
            if (line.Length < 17 || !ulong.TryParse(line.AsSpan(0, 16), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong ip)) continue;
            if (ip < hot.Start || ip >= hot.End) continue;
            inHot++;
            Assert.Contains($"{hot.Name}+0x{ip - hot.Start:x} ", line + " ");
        }
        output.WriteLine($"{inHot} instructions in {hot.Name}");
        Assert.True(inHot > 1000, $"only {inHot} instructions in {hot.Name}");

        var calls = Tool.Run(["decode", "-i", data, "--format", "calls"], TimeSpan.FromSeconds(60));
        Assert.Equal(0, calls.ExitCode);
        Assert.Contains($"-> {hot.Name} (", calls.Stdout);

        // The PT report and the timeline name the method too: a row of the hottest functions, and its call slices.
        var report = Tool.Run(["report", "-i", data], TimeSpan.FromSeconds(60));
        Assert.Equal(0, report.ExitCode);
        Assert.True(report.Stdout.Split('\n').Any(l => l.EndsWith(" " + hot.Name, StringComparison.Ordinal)), report.Stdout);
        string json = Path.Combine(_dir, "soft.json");
        var timeline = Tool.Run(["report", "-i", data, "--timeline", json], TimeSpan.FromSeconds(60));
        Assert.Equal(0, timeline.ExitCode);
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(json)))
        {
            var events = doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Array ? doc.RootElement : doc.RootElement.GetProperty("traceEvents");
            Assert.Contains(events.EnumerateArray(), e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("name").GetString() == hot.Name);
        }

        // The same file without the jitdump decodes from the code the tracer read out of the process's memory (and
        // names from the perf map): the same instructions, so the jitdump's bytes are the ones that ran.
        string dump = $"/tmp/jit-{pid}.dump";
        File.Move(dump, dump + ".hidden");
        try
        {
            var captured = Tool.Run(["decode", "-i", data], TimeSpan.FromSeconds(60));
            Assert.Equal(0, captured.ExitCode);
            Assert.DoesNotContain("JIT code of pid", captured.Stderr);
            Assert.Equal(insn.Stdout, captured.Stdout);
        }
        finally { File.Move(dump + ".hidden", dump); }
    }

    [Fact]
    public void Cpu_clock_samples_are_named_as_perf_names_them_from_the_runtime_perf_map()
    {
        string data = Path.Combine(_dir, "clock.data");
        // Without W^X the JIT code is anonymous memory, which Linux perf names from /tmp/perf-PID.map: its report is the oracle.
        var r = Tool.Run(["record", "-e", "cpu-clock", "--dotnet-jit", "-o", data, "--", "/usr/bin/env", "DOTNET_EnableWriteXorExecute=0", DotnetSample.HotLoop, "1"],
            TimeSpan.FromSeconds(60));
        Assert.Equal(0, r.ExitCode);
        int pid = ReadyPid(r.Stdout);
        string method = HotMethodOf(pid).Name;

        var ours = Tool.Run(["report", "-i", data]);
        Assert.Equal(0, ours.ExitCode);
        output.WriteLine(ours.Stdout);
        var perf = Perf.Run("report", "-i", data, "--stdio");
        Assert.Equal(0, perf.ExitCode);
        double oursShare = ShareOf(ours.Stdout, method), perfShare = ShareOf(perf.Stdout, method);
        output.WriteLine($"ours {oursShare}%, perf {perfShare}%");
        Assert.True(oursShare > 50, $"{method}: {oursShare}%");
        Assert.Equal(perfShare, oursShare, 2);
    }

    [Fact]
    public void Cpu_clock_samples_in_the_w_x_double_mapping_are_named_too()
    {
        // The default (W^X on): JIT code runs from a memfd mapping, which perf 6.1 cannot name from the perf map; we can.
        // Oracles: perf script's sample addresses against SumPrimes' range in the runtime's perf map, and perf inject -j.
        string data = Path.Combine(_dir, "wx.data");
        var r = Tool.Run(["record", "-e", "cpu-clock", "--dotnet-jit", "-o", data, "--", DotnetSample.HotLoop, "1"], TimeSpan.FromSeconds(60));
        Assert.Equal(0, r.ExitCode);
        int pid = ReadyPid(r.Stdout);
        PerfMapEntry hot = HotMethodOf(pid);

        var ours = Tool.Run(["report", "-i", data]);
        Assert.Equal(0, ours.ExitCode);
        double share = ShareOf(ours.Stdout, hot.Name);
        var ips = Perf.Script(data, "ip").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToList();
        int inHot = ips.Count(ip => ip >= hot.Start && ip < hot.End);
        output.WriteLine($"{inHot} of {ips.Count} samples in {hot.Name}; our report: {share}%");
        Assert.True(inHot > ips.Count / 2);
        Assert.Equal(Math.Round(100.0 * inHot / ips.Count, 2), share, 2);

        // perf inject -j (perf's own jitdump reader; it insists on CLOCK_MONOTONIC sample times, which --dotnet-jit
        // asks for) turns the jitdump into one ELF per method: perf's report of the result names SumPrimes as ours does.
        // HOME is a temp directory so its build-id cache does not land in the real one.
        string injected = Path.Combine(_dir, "injected.data");
        try
        {
            var inject = ProcessRunner.Run("/usr/bin/env", ["HOME=" + _dir, Perf.Executable, "inject", "-j", "-i", data, "-o", injected], TimeSpan.FromSeconds(60));
            Assert.True(inject.ExitCode == 0, inject.ToString());
            var perf = ProcessRunner.Run("/usr/bin/env", ["HOME=" + _dir, Perf.Executable, "report", "-i", injected, "--stdio"], TimeSpan.FromSeconds(60));
            Assert.Equal(0, perf.ExitCode);
            Assert.Contains("jitted-", perf.Stdout);
            Assert.Equal(ShareOf(perf.Stdout, hot.Name), share, 2);
        }
        finally
        {
            foreach (string f in Directory.EnumerateFiles("/tmp", $"jitted-{pid}-*.so")) File.Delete(f);
        }
    }

    [Fact]
    public void Attaching_to_a_running_process_turns_its_perf_map_on_over_the_diagnostics_ipc()
    {
        using var process = DotnetSample.StartReady(["0"]);
        int pid = process.Id;
        _pids.Add(pid);
        try
        {
            Assert.False(File.Exists($"/tmp/perf-{pid}.map"), "the sample was started without DOTNET_PerfMapEnabled");
            string data = Path.Combine(_dir, "attach.data");
            var r = Tool.Run(["record", "-p", pid.ToString(CultureInfo.InvariantCulture), "--dotnet-jit", "-e", "cpu-clock", "--duration", "1", "-o", data]);
            Assert.Equal(0, r.ExitCode);
            PerfMapEntry hot = HotMethodOf(pid);   // written by the runtime on our request (the rundown of compiled methods)
            var ours = Tool.Run(["report", "-i", data]);
            output.WriteLine(ours.Stdout);
            Assert.True(ShareOf(ours.Stdout, hot.Name) > 50, ours.Stdout);
        }
        finally
        {
            process.Kill();
            process.WaitForExit();
        }
    }

    [Fact]
    public void Attaching_with_dotnet_jit_to_a_process_that_is_not_dotnet_is_one_clear_error()
    {
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            var r = Tool.Run(["record", "-p", sleeper.Id.ToString(CultureInfo.InvariantCulture), "--dotnet-jit", "-e", "cpu-clock", "-o", Path.Combine(_dir, "x.data")]);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains($"process {sleeper.Id} is not a .NET process", r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
        }
        finally { sleeper.Kill(); }
    }

    private int ReadyPid(string stdout)
    {
        Match m = ReadyLine().Match(stdout);
        Assert.True(m.Success, $"no 'ready PID' in: {stdout}");
        int pid = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        _pids.Add(pid);
        return pid;
    }

    /// <summary>SumPrimes as the runtime's perf map places it.</summary>
    private static PerfMapEntry HotMethodOf(int pid)
    {
        string map = $"/tmp/perf-{pid}.map";
        Assert.True(File.Exists(map), $"{map} was not written");
        return PerfMapReader.Read(map, out _).Single(e => e.Name.Contains(DotnetSample.HotMethod, StringComparison.Ordinal));
    }

    /// <summary>The summed percentage of the report lines naming <paramref name="symbol"/>.</summary>
    private static double ShareOf(string report, string symbol) =>
        report.Split('\n').Where(l => !l.StartsWith('#') && l.Contains(symbol, StringComparison.Ordinal))
            .Sum(l => double.Parse(l.Trim().Split('%')[0], CultureInfo.InvariantCulture));

    [GeneratedRegex(@"(?m)^ready (\d+)$")]
    private static partial Regex ReadyLine();
}
