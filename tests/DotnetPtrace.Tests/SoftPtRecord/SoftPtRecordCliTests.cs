using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.SoftPtRecord;

/// <summary>`record --soft-pt` refuses what it cannot do with one clear line and the usual exit codes.</summary>
public sealed class SoftPtRecordCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_command_that_does_not_exist_exits_127_and_writes_no_file()
    {
        string output = Path.Combine(_dir, "missing.data");
        var r = Tool.Run(["record", "--soft-pt", "-o", output, "--", "/nonexistent/program"]);
        Assert.Equal(127, r.ExitCode);
        Assert.Contains("/nonexistent/program", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData(new[] { "record", "--soft-pt", "-t", "1" }, "--soft-pt")]
    [InlineData(new[] { "record", "--soft-pt", "-e", "cpu-clock", "--", "/bin/true" }, "intel_pt")]
    [InlineData(new[] { "record", "--soft-pt", "-e", "intel_pt/psb_period=99/", "--", "/bin/true" }, "psb_period")]
    [InlineData(new[] { "record", "--soft-pt", "-e", "intel_pt/frobnicate/", "--", "/bin/true" }, "frobnicate")]
    [InlineData(new[] { "record", "--ground-truth", "x", "--", "/bin/true" }, "--soft-pt")]
    public void Requests_it_cannot_honour_are_usage_errors(string[] args, string named)
    {
        var r = Tool.Run([args[0], "-o", Path.Combine(_dir, "x.data"), .. args[1..]]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(named, r.Stderr);
    }
}
