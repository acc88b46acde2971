using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Record;

/// <summary>Bad requests get one clear line on stderr, a non-zero exit, and no file left behind.</summary>
[Collection("live recording")]
public class BadInputTests(ITestOutputHelper output) : IClassFixture<ScratchDirectory>
{
    private readonly ScratchDirectory _scratch = new();

    private (ProcessResult Result, string File) Record(params string[] args)
    {
        string file = _scratch.File($"bad-{Guid.NewGuid():N}.data");
        var r = Tool.Run(["record", "-o", file, .. args]);
        output.WriteLine(r.ToString());
        return (r, file);
    }

    private static string OneErrorLine(ProcessResult r)
    {
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 1, "no message");
        return lines[0];
    }

    [Fact]
    public void Unknown_event_names_the_close_matches()
    {
        var (r, file) = Record("-e", "cpu-clokc", "--", "/bin/true");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cpu-clock", OneErrorLine(r));
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void A_pid_that_does_not_exist()
    {
        var (r, file) = Record("-p", "999999999");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("999999999", OneErrorLine(r));
        Assert.Contains("no such process", OneErrorLine(r));
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void A_cpu_that_is_not_online()
    {
        var (r, file) = Record("-C", "99", "-e", "cpu-clock", "--duration", "0.1");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("99", OneErrorLine(r));
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void A_ring_that_is_not_a_power_of_two()
    {
        var (r, file) = Record("-m", "3", "--", "/bin/true");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("power of two", r.Stderr);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void An_unwritable_output()
    {
        var r = Tool.Run(["record", "-e", "task-clock", "-o", "/proc/no-such-dir/x.data", "--", "/bin/true"]);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cannot create /proc/no-such-dir/x.data", OneErrorLine(r));
    }

    [Fact]
    public void A_command_that_does_not_exist_exits_127()
    {
        var (r, file) = Record("-e", "task-clock", "--", "no-such-command-xyz");
        Assert.Equal(127, r.ExitCode);
        Assert.Equal("dotnet-ptrace record: no-such-command-xyz: command not found", r.Stderr.Trim());
        Assert.False(File.Exists(file));
    }
}
