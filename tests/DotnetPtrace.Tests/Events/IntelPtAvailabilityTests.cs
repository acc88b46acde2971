using DotnetPtrace.Native.Events;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Events;

public class IntelPtAvailabilityTests
{
    private static string Explain(string vendor, string flags)
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, $"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\nprocessor\t: 1\n");
        try { return IntelPtAvailability.WhyMissing(path); }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("AuthenticAMD", "fpu vme hypervisor", "made by AMD")]
    [InlineData("GenuineIntel", "fpu vme hypervisor", "virtual machine whose hypervisor does not pass Intel PT through")]
    [InlineData("GenuineIntel", "fpu vme", "does not report Intel PT")]
    [InlineData("GenuineIntel", "fpu intel_pt vme", "kernel has no intel_pt PMU")]
    public void The_reason_follows_from_cpuinfo(string vendor, string flags, string expected)
    {
        string why = Explain(vendor, flags);
        Assert.Contains(expected, why);
        Assert.Contains("-e cpu-clock", why);
    }

    [Fact]
    public void Recording_intel_pt_here_fails_fast_with_the_reason()
    {
        if (Directory.Exists("/sys/bus/event_source/devices/intel_pt"))
            return;   // a machine with Intel PT: nothing to explain (the PT recording tests cover it)
        var r = Tool.Run(["record", "-e", "intel_pt//u", "--", "/bin/true"], TimeSpan.FromSeconds(10));
        Assert.NotEqual(0, r.ExitCode);
        Assert.True(r.Elapsed < TimeSpan.FromSeconds(5), $"took {r.Elapsed}");
        string line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("no Intel PT here: ", line);
        Assert.Contains(IntelPtAvailability.WhyMissing(), line);
    }
}
