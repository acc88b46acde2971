using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Reading;

/// <summary>With two sampling events, `report` prints one table per event, as perf does, and they agree with perf's.</summary>
[Collection("live recording")]
public class ReportPerEventTests(ITestOutputHelper output)
{
    /// <summary>event name -> (dso symbol -> percent), from "# Samples: N  of event 'E'" sections.</summary>
    private static Dictionary<string, Dictionary<string, string>> Sections(string report)
    {
        var result = new Dictionary<string, Dictionary<string, string>>();
        Dictionary<string, string>? current = null;
        foreach (string line in report.Split('\n'))
        {
            var header = Regex.Match(line, @"^# Samples: \S+\s+of event '([^']+)'");
            if (header.Success) { result[header.Groups[1].Value] = current = []; continue; }
            var row = Regex.Match(line, @"^\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)\s*$");
            if (row.Success && current is not null) current[$"{row.Groups[2].Value} {row.Groups[4].Value}"] = row.Groups[1].Value;
        }
        return result;
    }

    [Fact]
    public void Each_event_gets_its_own_table_equal_to_perfs()
    {
        string file = Path.Combine(Path.GetTempPath(), $"two-{Guid.NewGuid():N}.data");
        try
        {
            var record = Tool.Run(["record", "-q", "-e", "cpu-clock:u", "-e", "page-faults:u", "-o", file, "--", SampleBinaries.TouchPages, "3000"]);
            Assert.True(record.ExitCode == 0, record.ToString());
            var ours = Tool.Run(["report", "-i", file]);
            var theirs = Perf.Run("report", "-i", file, "--stdio", "--sort", "dso,sym");
            output.WriteLine(ours.Stdout);
            var ourSections = Sections(ours.Stdout);
            var perfSections = Sections(theirs.Stdout);
            Assert.Equal(["cpu-clock:u", "page-faults:u"], ourSections.Keys.Order().ToArray());
            foreach (var (name, rows) in perfSections)
                Assert.Equal(rows.OrderBy(r => r.Key), ourSections[name].OrderBy(r => r.Key));
        }
        finally { File.Delete(file); }
    }
}
