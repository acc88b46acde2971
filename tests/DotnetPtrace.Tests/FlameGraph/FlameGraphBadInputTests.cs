using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.FlameGraph;

/// <summary>Nothing to draw gets one clear line and a failing exit, never an empty or broken SVG.</summary>
public sealed class FlameGraphBadInputTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-flame-bad-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Empty_file_gets_a_clear_message_and_no_svg()
    {
        string empty = Path.Combine(_dir.FullName, "empty.data");
        File.WriteAllBytes(empty, []);
        string svg = Path.Combine(_dir.FullName, "empty.svg");
        var r = Tool.Run(["report", "-i", empty, "--flamegraph", svg]);
        log.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.False(File.Exists(svg), "an SVG was written for an empty file");
        Assert.Equal("", r.Stdout);
        // One line: the file, the offset, what is wrong with it (the reader's words) and that nothing was written.
        Assert.Matches($"^dotnet-ptrace report: {Regex.Escape(empty)}: at offset 0x0: [^\n]+; no samples, nothing written$", r.Stderr.Trim());
    }

    [Fact]
    public void Recording_without_samples_gets_a_clear_message_for_folded_too()
    {
        // A one-second cpu-clock period never fires in /bin/true: a valid file with no samples.
        string data = Path.Combine(_dir.FullName, "none.data");
        var rec = Tool.Run(["record", "-q", "-e", "cpu-clock", "-c", "1000000000", "-o", data, "--", "/bin/true"]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        var r = Tool.Run(["report", "-i", data, "--folded", "-"]);
        log.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal($"dotnet-ptrace report: {data}: no samples to draw (record some with: dotnet-ptrace record -g -e cpu-clock -- CMD)", r.Stderr.Trim());
    }

    [Fact]
    public void Truncated_file_names_the_offset()
    {
        var files = WorkRatioRecording.Get();
        string cut = Path.Combine(_dir.FullName, "cut.data");
        File.WriteAllBytes(cut, File.ReadAllBytes(files.Data)[..100]);
        var r = Tool.Run(["report", "-i", cut, "--folded", "-"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Matches($"^dotnet-ptrace report: {Regex.Escape(cut)}: at offset 0x64: [^\n]+; no samples, nothing written$", r.Stderr.Trim());
    }

    [Fact]
    public void Unwritable_output_is_named()
    {
        var files = WorkRatioRecording.Get();
        string svg = Path.Combine(_dir.FullName, "no-such-dir", "x.svg");
        var r = Tool.Run(["report", "-i", files.Data, "--flamegraph", svg]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"{svg}: cannot write", r.Stderr, StringComparison.Ordinal);
    }
}
