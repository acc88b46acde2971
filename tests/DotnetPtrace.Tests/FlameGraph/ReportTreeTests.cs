using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.FlameGraph;

/// <summary>
/// The terminal report: `--tree` prints the call tree, whose shares agree with perf report --children; colours
/// appear only on a terminal (util-linux `script` gives the tool one) and never with NO_COLOR or when redirected.
/// </summary>
public sealed partial class ReportTreeTests(ITestOutputHelper log)
{
    [Fact]
    public void Tree_shares_match_perf_children_percentages()
    {
        var files = WorkRatioRecording.Get();
        var ours = Tool.Run(["report", "-i", files.Data, "--children", "--tree"]);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        log.WriteLine(ours.Stdout);
        var perf = Perf.Run("report", "--children", "--stdio", "--sort", "sym", "-i", files.Data);
        Assert.Equal(0, perf.ExitCode);
        string treeText = ours.Stdout[ours.Stdout.IndexOf("# Call tree", StringComparison.Ordinal)..];
        var tree = TreeRows().Matches(treeText).ToLookup(m => m.Groups[2].Value, m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        // Each of these functions is reached along one path only, so its tree share is its children share.
        foreach (string name in new[] { "main", "work_1x", "work_2x", "work_3x" })
        {
            var row = new Regex(@"^\s+([\d.]+)%\s+[\d.]+%\s+.*\[\.\] " + name + @"\s*$", RegexOptions.Multiline).Match(perf.Stdout);
            Assert.True(row.Success, $"perf report has no row for {name}");
            Assert.Equal(double.Parse(row.Groups[1].Value, CultureInfo.InvariantCulture), tree[name].Single(), 2);
        }
        Assert.DoesNotContain("\e[", ours.Stdout, StringComparison.Ordinal);
        // Without --tree a redirected report is perf's table alone.
        var plain = Tool.Run(["report", "-i", files.Data, "--children"]);
        Assert.DoesNotContain("Call tree", plain.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\e[", plain.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Colours_and_tree_only_on_a_terminal_without_NO_COLOR()
    {
        if (!File.Exists("/usr/bin/script")) { log.WriteLine("skipped: util-linux script is not installed"); return; }
        var files = WorkRatioRecording.Get();
        string command = $"dotnet '{Tool.DllPath}' report -i '{files.Data}' --children";
        var tty = ProcessRunner.Run("/usr/bin/script", ["-qec", "env -u NO_COLOR " + command, "/dev/null"], TimeSpan.FromSeconds(120));
        Assert.True(tty.ExitCode == 0, tty.ToString());
        Assert.Contains("\e[31m", tty.Stdout, StringComparison.Ordinal);   // red: >= 5%, as perf colours it
        Assert.Contains("Call tree", tty.Stdout, StringComparison.Ordinal);
        var noColour = ProcessRunner.Run("/usr/bin/script", ["-qec", "env NO_COLOR=1 " + command, "/dev/null"], TimeSpan.FromSeconds(120));
        Assert.True(noColour.ExitCode == 0, noColour.ToString());
        // Only colour (SGR) sequences count: .NET itself sets the terminal's keypad mode ("\e[?1h\e=").
        Assert.DoesNotMatch(@"\e\[[0-9;]*m", noColour.Stdout);
    }

    /// <summary>"  33.12%        work_2x" lines of the call tree (colour codes absent: output redirected).</summary>
    [GeneratedRegex(@"^\s*([\d.]+)%\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex TreeRows();
}
