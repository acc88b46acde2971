using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>`trace` refuses what it cannot do with a clear line and the usual exit codes.</summary>
public sealed class TraceCliTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(new[] { "trace", "-i", "x.data", "-o", "y.data" }, "-o")]
    [InlineData(new[] { "trace", "-i", "x.data", "--format", "events" }, "events")]
    [InlineData(new[] { "trace", "-i", "x.data", "--", "/bin/true" }, "one source")]
    [InlineData(new[] { "trace", "-i", "x.data", "--queue", "lots" }, "--queue")]
    [InlineData(new[] { "trace" }, "nothing to record")]
    public void Requests_it_cannot_honour_are_usage_errors(string[] args, string named)
    {
        var r = Tool.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(named, r.Stderr);
    }

    [Fact]
    public void A_missing_input_is_one_line_naming_it()
    {
        var r = Tool.Run(["trace", "-i", "/nonexistent/x.data"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("dotnet-ptrace trace: cannot read /nonexistent/x.data: no such file", r.Stderr.Trim());
    }

    [Fact]
    public void Without_Intel_PT_a_recording_says_what_works_instead()
    {
        if (Directory.Exists("/sys/bus/event_source/devices/intel_pt")) { output.WriteLine("skipped: this machine has Intel PT"); return; }
        var r = Tool.Run(["trace", "--", "/bin/true"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("--soft-pt", r.Stderr);
    }
}
