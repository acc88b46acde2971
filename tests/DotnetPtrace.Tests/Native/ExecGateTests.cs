using DotnetPtrace.Native;

namespace DotnetPtrace.Tests.Native;

public class ExecGateTests
{
    [Fact]
    public async Task The_command_runs_only_after_release_and_its_exit_status_is_reported()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"gate-{Guid.NewGuid():N}");
        using var gate = ExecGate.Start(["/bin/sh", "-c", $"touch {marker}; exit 42"]);
        await Task.Delay(300);
        Assert.False(File.Exists(marker), "the command ran before the gate was released");
        Assert.False(gate.HasExited);
        gate.Release();
        await gate.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal(42, gate.ExitCode);
        Assert.True(File.Exists(marker));
        File.Delete(marker);
    }

    [Fact]
    public async Task The_pid_is_the_commands_pid_after_exec()
    {
        using var gate = ExecGate.Start(["/bin/sleep", "5"]);
        int pid = gate.Pid;
        gate.Release();
        // After exec the same pid runs sleep, so events opened on it follow the command.
        for (int i = 0; i < 50 && File.ReadAllText($"/proc/{pid}/comm").Trim() != "sleep"; i++) await Task.Delay(20);
        Assert.Equal("sleep", File.ReadAllText($"/proc/{pid}/comm").Trim());
        gate.Kill();
    }

    [Fact]
    public async Task A_gate_closed_without_release_never_runs_the_command()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"gate-{Guid.NewGuid():N}");
        var gate = ExecGate.Start(["/bin/sh", "-c", $"touch {marker}"]);
        gate.Dispose();   // closes our end of the pipe: the gate reads EOF
        await Task.Delay(500);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("no-such-command-xyz", 127, "no-such-command-xyz: command not found")]
    [InlineData("/no/such/file", 127, "/no/such/file: No such file or directory")]
    public void Commands_that_cannot_run_fail_as_a_shell_does(string command, int exitCode, string message)
    {
        var e = Assert.Throws<CommandNotFoundException>(() => ExecGate.Start([command]));
        Assert.Equal(exitCode, e.ExitCode);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void A_file_without_execute_permission_exits_126()
    {
        string file = Path.GetTempFileName();
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<CommandNotFoundException>(() => ExecGate.Start([file]));
        Assert.Equal(126, e.ExitCode);
        Assert.Equal($"{file}: Permission denied", e.Message);
        File.Delete(file);
    }
}
