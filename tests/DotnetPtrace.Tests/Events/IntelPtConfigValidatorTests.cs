using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Tests.Events;

/// <summary>intel_pt terms against the caps of the fake tree (real format and caps files of an Intel PT PMU).</summary>
public class IntelPtConfigValidatorTests
{
    // Fake caps: mtc_periods 0x249 (0,3,6,9), psb_periods 0x3f (0-5), cycle_thresholds 0x3fff (0-13).
    [Theory]
    [InlineData("intel_pt/mtc_period=6/u")]
    [InlineData("intel_pt/mtc_period=0/u")]
    [InlineData("intel_pt/psb_period=5/u")]
    [InlineData("intel_pt/cyc,cyc_thresh=13/u")]
    public void Supported_values_pass(string text) => FakeSysfs.Parser().Parse(text);

    [Theory]
    [InlineData("intel_pt/mtc_period=4/u", "mtc_period=4 is not supported by this CPU; valid values are 0,3,6,9")]
    [InlineData("intel_pt/psb_period=7/u", "psb_period=7 is not supported by this CPU; valid values are 0,1,2,3,4,5")]
    [InlineData("intel_pt/cyc_thresh=14/u", "cyc_thresh=14 is not supported by this CPU; valid values are 0,1,2,3,4,5,6,7,8,9,10,11,12,13")]
    public void Unsupported_values_name_the_allowed_ones(string text, string message)
    {
        var e = Assert.Throws<EventParseException>(() => FakeSysfs.Parser().Parse(text));
        Assert.Contains(message, e.Message);
        Assert.Contains(text, e.Message);
    }

    [Theory]
    [InlineData("ptwrite", "intel_pt/ptw/u", "term 'ptw' needs caps/ptwrite")]
    [InlineData("power_event_trace", "intel_pt/pwr_evt/u", "term 'pwr_evt' needs caps/power_event_trace")]
    [InlineData("psb_cyc", "intel_pt/cyc/u", "term 'cyc' needs caps/psb_cyc")]
    public void Packets_the_CPU_cannot_produce_are_refused(string capability, string text, string message)
    {
        string root = CopyTreeWith(capability, "0");
        try
        {
            var parser = new EventParser(new PmuCatalog(Path.Combine(root, "bus", "event_source", "devices")), FakeSysfs.Tracefs());
            var e = Assert.Throws<EventParseException>(() => parser.Parse(text));
            Assert.Contains(message, e.Message);
            // The same event passes on the unmodified tree.
            FakeSysfs.Parser().Parse(text);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    private static string CopyTreeWith(string capability, string value)
    {
        string root = Directory.CreateTempSubdirectory("sysfs-").FullName;
        foreach (string file in Directory.EnumerateFiles(FakeSysfs.Root, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(root, Path.GetRelativePath(FakeSysfs.Root, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        File.WriteAllText(Path.Combine(root, "bus", "event_source", "devices", "intel_pt", "caps", capability), value + "\n");
        return root;
    }
}
