using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>`dump --header` prints the string and number features as `perf report --header-only` does.</summary>
public sealed class HeaderTests(ITestOutputHelper log)
{
    private static readonly string[] Compared = ["# hostname ", "# os release ", "# perf version ", "# arch ", "# nrcpus online ", "# nrcpus avail ", "# cpudesc ", "# cpuid ", "# total memory ", "# cmdline "];

    [Theory]
    [MemberData(nameof(TestDataFiles.All), MemberType = typeof(TestDataFiles))]
    public void Header_features_match_perf_header_only(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        string path = TestDataFiles.PathOf(name);
        var perf = Perf.Run("report", "--header-only", "-i", path);
        if (perf.ExitCode != 0 || !perf.Stdout.Contains("# ========")) { log.WriteLine($"perf cannot read {name}"); return; }
        var ours = Tool.Run(["dump", "--header", "-i", path]);
        var expected = Pick(perf.Stdout);
        var actual = Pick(ours.Stdout);
        log.WriteLine(string.Join("\n", actual));
        if (perf.Stdout.Contains("# hostname")) Assert.NotEmpty(expected);
        Assert.Equal(expected, actual);
    }

    private static List<string> Pick(string text) =>
        TestDataFiles.Normalize(text).Where(l => Compared.Any(c => l.StartsWith(c.TrimEnd() + " ", StringComparison.Ordinal))).ToList();
}
