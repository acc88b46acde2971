using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Reading;

/// <summary>[vdso] samples are named from this kernel's vDSO image, as perf names them.</summary>
[Collection("live recording")]
public class VdsoSymbolTests(ITestOutputHelper output)
{
    [Fact]
    public void A_program_living_in_the_vdso_is_named_as_perf_names_it()
    {
        string file = Path.Combine(Path.GetTempPath(), $"vdso-{Guid.NewGuid():N}.data");
        try
        {
            var record = Tool.Run(["record", "-q", "-e", "cpu-clock:u", "-o", file, "--", SampleBinaries.VdsoClock, "10000000"]);
            Assert.True(record.ExitCode == 0, record.ToString());
            var ours = Tool.Run(["report", "-i", file]);
            output.WriteLine(ours.Stdout);
            var theirs = Perf.Run("report", "-i", file, "--stdio", "--sort", "dso,sym");
            string Top(string text) => Regex.Match(text, @"^\s+([\d.]+)%\s+\[vdso\]\s+\[\.\]\s+(\S+)", RegexOptions.Multiline).Groups[2].Value;
            Assert.StartsWith("__vdso_clock_gettime", Top(theirs.Stdout));
            Assert.Equal(Top(theirs.Stdout), Top(ours.Stdout));
        }
        finally { File.Delete(file); }
    }
}
