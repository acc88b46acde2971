using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// `dump --header` on the shared perf.data files (perf 3.4 to 6.16, three architectures, pipe and file mode) prints
/// every feature exactly as `perf report --header-only -I` of perf 6.1 does (see <see cref="HeaderOracle"/> for the
/// lines left out and why); what perf prints nothing for is checked against other perf commands.
/// </summary>
public sealed partial class HeaderTests(ITestOutputHelper log)
{
    [Theory]
    [MemberData(nameof(TestDataFiles.All), MemberType = typeof(TestDataFiles))]
    public void Header_matches_perf_header_only(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        string path = TestDataFiles.PathOf(name);
        string ours = HeaderOracle.Ours(path);
        string? perf = HeaderOracle.Perf(path, log);
        if (perf is null)
        {
            // Files perf 6.1 refuses (attrs newer than it knows) are still read: say what we read.
            log.WriteLine(ours);
            Assert.Contains("# hostname : ", ours);
            Assert.DoesNotContain(HeaderOracle.Lines(ours), l => l.StartsWith(Cli.Dump.HeaderPrinter.ProblemPrefix, StringComparison.Ordinal));
            return;
        }
        HeaderOracle.AssertSameAsPerf(perf, ours, log);
    }

    [Theory]
    [MemberData(nameof(TestDataFiles.All), MemberType = typeof(TestDataFiles))]
    public void Build_ids_match_perf_buildid_list(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        string path = TestDataFiles.PathOf(name);
        // Pipe files carry build-ids as HEADER_BUILD_ID records, not as the feature.
        if (name.Contains(".pipe", StringComparison.Ordinal) || name.Contains(".piped.", StringComparison.Ordinal) || HeaderOracle.Perf(path, log) is null)
        {
            log.WriteLine($"{name}: no BUILD_ID feature perf 6.1 can read");
            return;
        }
        var expected = HeaderOracle.PerfBuildIds(path);
        var actual = HeaderOracle.OurBuildIds(HeaderOracle.Ours(path));
        log.WriteLine($"{actual.Count} build-ids");
        Assert.Equal(expected, actual);
    }

    /// <summary>The AUXTRACE index points at the AUXTRACE records perf -D finds, and says how big each is.</summary>
    [Fact]
    public void Auxtrace_index_points_at_the_records_perf_dumps()
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        string path = TestDataFiles.PathOf("perf.data.intel_pt-4.14");
        var dump = Perf.Run("report", "-D", "-i", path);
        // "0 0 0x29c0 [0x30]: PERF_RECORD_AUXTRACE size: 0x2fd0  offset: 0 ..."
        var records = AuxtraceRecord().Matches(dump.Stdout)
            .Select(m => (Offset: Convert.ToUInt64(m.Groups[1].Value, 16), Header: Convert.ToUInt64(m.Groups[2].Value, 16), Payload: Convert.ToUInt64(m.Groups[3].Value, 16)))
            .ToList();
        Assert.NotEmpty(records);
        var entries = HeaderOracle.Lines(HeaderOracle.Ours(path))
            .Select(l => AuxtraceEntry().Match(l)).Where(m => m.Success)
            .Select(m => (Offset: Convert.ToUInt64(m.Groups[1].Value, 16), Size: ulong.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))
            .ToList();
        Assert.Equal(records.Select(r => r.Offset), entries.Select(e => e.Offset));
        // perf 4.14 indexed the record alone; newer perf the record with its payload.
        Assert.All(records.Zip(entries), p => Assert.True(p.Second.Size == p.First.Header || p.Second.Size == p.First.Header + p.First.Payload, $"{p}"));
    }

    [GeneratedRegex(@"0x([0-9a-f]+) \[0x([0-9a-f]+)\]: PERF_RECORD_AUXTRACE size: 0x([0-9a-f]+)")]
    private static partial Regex AuxtraceRecord();

    [GeneratedRegex(@"^# auxtrace index:\s+offset 0x([0-9a-f]+), size (\d+)$")]
    private static partial Regex AuxtraceEntry();
}
