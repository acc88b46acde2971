using DotnetPtrace.Cli.PtDump;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary><c>dump --pt FILE</c> options, checked against libipt's golden dump of the same file.</summary>
public class PtDumpCommandTests(ITestOutputHelper log)
{
    private string[]? Golden(out string trace)
    {
        trace = "";
        string? root = PtTestSupport.PtRealDir;
        if (root == null)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return null;
        }
        trace = Path.Combine(root, "Unzip", "trace.pt");
        return File.ReadAllText(Path.Combine(root, "Unzip", "ptdump.txt")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static (int Code, string[] Lines, string Error) Run(string file, PtDumpOptions options)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = PtDumpCommand.Run(file, options, output, error);
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), error.ToString());
    }

    [Fact]
    public void Default_output_is_ptdumps()
    {
        string[]? golden = Golden(out string trace);
        if (golden == null) return;
        var (code, lines, _) = Run(trace, new PtDumpOptions());
        Assert.Equal(0, code);
        PtTestSupport.AssertSameLines(golden, lines, "dump --pt");
    }

    [Fact]
    public void No_pad_drops_exactly_the_pad_lines()
    {
        string[]? golden = Golden(out string trace);
        if (golden == null) return;
        var (_, lines, _) = Run(trace, new PtDumpOptions { NoPad = true });
        PtTestSupport.AssertSameLines(golden.Where(l => !l.EndsWith("  pad", StringComparison.Ordinal)).ToArray(), lines, "--no-pad");
    }

    [Fact]
    public void Offset_from_dumps_the_rest_of_the_file_with_file_offsets()
    {
        string[]? golden = Golden(out string trace);
        if (golden == null) return;
        // Start in the middle of a packet just before the second PSB: the dump syncs to that PSB.
        var (_, lines, _) = Run(trace, new PtDumpOptions { OffsetFrom = 0x3a });
        PtTestSupport.AssertSameLines(golden.SkipWhile(l => !l.StartsWith("0000000000000040", StringComparison.Ordinal)).ToArray(), lines, "--offset-from 0x3a");
    }

    [Fact]
    public void Raw_shows_each_packets_bytes()
    {
        string[]? golden = Golden(out string trace);
        if (golden == null) return;
        byte[] bytes = File.ReadAllBytes(trace);
        var (_, lines, _) = Run(trace, new PtDumpOptions { Raw = true });
        Assert.Equal(golden.Length, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            int offset = Convert.ToInt32(lines[i][..16], 16);
            int next = i + 1 < lines.Length ? Convert.ToInt32(lines[i + 1][..16], 16) : bytes.Length;
            string raw = lines[i].Substring(18, 33).TrimEnd();
            Assert.Equal(Convert.ToHexString(bytes, offset, Math.Min(next - offset, 16)).ToLowerInvariant(), raw);
            // The remaining columns are ptdump's, shifted by the raw column.
            Assert.Equal(golden[i][18..], lines[i][52..]);
        }
    }

    [Fact]
    public void A_missing_file_or_offset_outside_it_is_a_usage_error()
    {
        var (code, lines, error) = Run("/nonexistent/trace.pt", new PtDumpOptions());
        Assert.Equal(1, code);
        Assert.Empty(lines);
        Assert.Contains("/nonexistent/trace.pt", error);

        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, new byte[10]);
            (code, _, error) = Run(file, new PtDumpOptions { OffsetFrom = 11 });
            Assert.Equal(1, code);
            Assert.Contains("--offset-from", error);
            (code, lines, _) = Run(file, new PtDumpOptions());
            Assert.Equal(0, code);
            Assert.Empty(lines); // no PSB: nothing to show, as ptdump
        }
        finally
        {
            File.Delete(file);
        }
    }
}
