using System.Globalization;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Jit;

/// <summary>
/// `record --soft-pt -D MSECS`: the command starts untraced, then all its threads are seized where they are. The
/// oracle for where single-stepping starts is objdump's address of the instruction the sample is blocked in.
/// </summary>
public sealed class SoftPtDelayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-delay-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Attached_inside_a_blocking_syscall_the_first_step_is_that_syscall_and_duration_ends_the_wait()
    {
        // samples/softpt/sleep.S: nanosleep(30 s) then exit. Seized 0.2 s in, it sits in the nanosleep; the kernel
        // restarts the call when it resumes, so the first executed instruction is the first syscall.
        string bin = SoftPtSamples.NoStdlib("sleep");
        var objdump = ProcessRunner.Run("objdump", ["-d", bin], TimeSpan.FromSeconds(30));
        string syscallLine = objdump.Stdout.Split('\n').First(l => l.TrimEnd().EndsWith("syscall", StringComparison.Ordinal));
        ulong firstSyscall = ulong.Parse(syscallLine.Trim().Split(':')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        string data = Path.Combine(_dir, "sleep.data"), truth = Path.Combine(_dir, "truth.txt");
        var r = Tool.Run(["record", "--soft-pt", "-D", "200", "--duration", "1", "--ground-truth", truth, "-o", data, "--", bin], TimeSpan.FromSeconds(20));
        // --duration ends the trace inside the 30 s sleep (the tracer was blocked waiting on it) and kills the command.
        Assert.True(r.Elapsed < TimeSpan.FromSeconds(15), $"took {r.Elapsed}");
        Assert.Equal(128 + 9, r.ExitCode);
        string[] executed = File.ReadAllLines(truth).Where(l => !l.StartsWith('#')).ToArray();
        Assert.Equal(firstSyscall.ToString("x", CultureInfo.InvariantCulture), executed[0]);

        var decode = Tool.Run(["decode", "-i", data]);
        Assert.Equal(0, decode.ExitCode);
        Assert.Contains($"{firstSyscall:x16}", decode.Stdout);
        Assert.Contains(" 0 errors", decode.Stderr);
    }

    [Fact]
    public void A_command_that_ends_within_the_delay_is_reported_as_not_traced()
    {
        var r = Tool.Run(["record", "--soft-pt", "-D", "2000", "-o", Path.Combine(_dir, "true.data"), "--", "/bin/true"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("the command ended within the -D delay", r.Stderr);
    }

    [Theory]
    [InlineData(new[] { "-D", "100", "-e", "cpu-clock", "--", "/bin/true" }, "-D/--delay is implemented for --soft-pt")]
    [InlineData(new[] { "--dotnet-jit", "-a", "-e", "cpu-clock" }, "--dotnet-jit needs a command")]
    [InlineData(new[] { "--soft-pt", "-D", "-5", "--", "/bin/true" }, "-D")]
    public void Requests_it_cannot_honour_are_usage_errors(string[] args, string named)
    {
        var r = Tool.Run(["record", "-o", Path.Combine(_dir, "x.data"), .. args]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(named, r.Stderr);
    }
}
