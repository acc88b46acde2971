using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Record;

/// <summary>
/// The errors an unprivileged user meets, with the real kernel's answers: the tool runs as 'nobody' (su) so the
/// paranoid level and the locked-memory limits apply to it.
/// </summary>
[Collection("live recording")]
public class PermissionTests(ITestOutputHelper output)
{
    private ProcessResult RunAsNobody(string shellPrefix, params string[] args)
    {
        string quoted = string.Join(' ', args.Select(a => $"'{a}'"));
        string script = $"{shellPrefix} cd /tmp && DOTNET_CLI_HOME=/tmp HOME=/tmp dotnet '{Tool.DllPath}' record {quoted}";
        var r = ProcessRunner.Run("su", ["nobody", "-s", "/bin/bash", "-c", script], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        return r;
    }

    [Fact]
    public void System_wide_without_privilege_names_the_paranoid_level_and_the_fix()
    {
        int paranoid = int.Parse(File.ReadAllText("/proc/sys/kernel/perf_event_paranoid").Trim());
        Assert.True(paranoid >= 1, $"this check needs kernel.perf_event_paranoid >= 1 (it is {paranoid})");
        string file = $"/tmp/nobody-{Guid.NewGuid():N}.data";
        var r = RunAsNobody("", "-a", "-e", "cpu-clock", "--duration", "0.1", "-o", file);
        Assert.Equal(2, r.ExitCode);
        string line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"permission denied (kernel.perf_event_paranoid = {paranoid})", line);
        Assert.Contains("CAP_PERFMON", line);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void A_ring_over_the_locked_memory_limit_names_both_limits()
    {
        string file = $"/tmp/nobody-{Guid.NewGuid():N}.data";
        var r = RunAsNobody("ulimit -l 64;", "-m", "1024", "-e", "cpu-clock:u", "-o", file, "--", "/bin/true");
        Assert.Equal(2, r.ExitCode);
        string line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("cannot map the data ring (4100 KiB)", line);
        Assert.Contains("perf_event_mlock_kb", line);
        Assert.Contains("RLIMIT_MEMLOCK = 64 KiB", line);
        Assert.False(File.Exists(file));
    }
}
