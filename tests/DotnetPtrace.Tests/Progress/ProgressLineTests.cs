using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Progress;

/// <summary>
/// The progress line: its text (the form cli-conventions.md gives), its terminal control (ECMA-48: CR, EL "ESC[2K"
/// erases the line; DECTCEM "ESC[?25l"/"ESC[?25h" hides and shows the cursor), and that it shows only on a terminal.
/// </summary>
public class ProgressLineTests(ITestOutputHelper log)
{
    private const long MB = 1024 * 1024;

    [Fact]
    public void Text_is_the_documented_form()
    {
        // cli-conventions.md: "[00:00:05] decoding: 48.0 MB of 120 MB (9.6 MB/s)".
        Assert.Equal("[00:00:05] decoding: 48.0 MB of 120 MB (9.6 MB/s)", ProgressText.Format(TimeSpan.FromSeconds(5), "decoding", 48 * MB, 120 * MB));
        Assert.Equal("[01:02:05] recording: 1.5 GB (422 KB/s), 0 lost (Ctrl-C to stop)",
            ProgressText.Format(TimeSpan.FromSeconds(3725), "recording", 3 * 512 * MB, 0, "0 lost (Ctrl-C to stop)"));
        // No rate before a tenth of a second: an average over nothing says nothing.
        Assert.Equal("[00:00:00] reading: 0 B of 10.0 KB", ProgressText.Format(TimeSpan.FromMilliseconds(50), "reading", 0, 10 * 1024));
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1023, "1023 B")]
    [InlineData(1024, "1.0 KB")]
    [InlineData(99 * 1024 + 1000, "100 KB")]      // 99.98 KB rounds to 100: three figures, no decimal
    [InlineData(1024 * 1023 + 600, "1.0 MB")]     // 1023.6 KB would print as "1024 KB"
    [InlineData(120 * MB, "120 MB")]
    [InlineData(5 * 1024 * MB / 2, "2.5 GB")]
    public void Sizes_have_three_figures_in_binary_units(long bytes, string text) => Assert.Equal(text, ProgressText.Size(bytes));

    [Fact]
    public void Line_redraws_in_place_and_restores_the_cursor()
    {
        var clock = new ManualClock();
        var terminal = new StringWriter();
        var line = new ProgressLine("reading", 100 * MB, terminal, clock, startTimer: false);
        line.Update(20 * MB);
        clock.Advance(TimeSpan.FromSeconds(4));
        line.Render();
        line.Update(50 * MB);
        clock.Advance(TimeSpan.FromSeconds(6));
        line.Render();
        line.Dispose();
        line.Render();   // after the end: nothing more
        Assert.Equal("\x1b[?25l" + "\r\x1b[2K[00:00:04] reading: 20.0 MB of 100 MB (5.0 MB/s)" + "\r\x1b[2K[00:00:10] reading: 50.0 MB of 100 MB (5.0 MB/s)"
            + "\r\x1b[2K" + "\x1b[?25h", terminal.ToString());
    }

    [Fact]
    public void Source_and_detail_are_read_at_each_redraw()
    {
        var clock = new ManualClock();
        var terminal = new StringWriter();
        long written = 0, lost = 0;
        using (var line = new ProgressLine("recording", 0, terminal, clock, startTimer: false) { Source = () => written, Detail = () => $"{lost} lost" })
        {
            written = 3 * MB;
            lost = 2;
            clock.Advance(TimeSpan.FromSeconds(2));
            line.Render();
        }
        Assert.Contains("[00:00:02] recording: 3.0 MB (1.5 MB/s), 2 lost", terminal.ToString());
    }

    [Fact]
    public void Line_that_never_drew_leaves_the_terminal_untouched()
    {
        var terminal = new StringWriter();
        new ProgressLine("reading", 1, terminal, new ManualClock(), startTimer: false).Dispose();
        Assert.Equal("", terminal.ToString());
        var hidden = new ProgressLine("reading", 1, terminal: null, new ManualClock(), startTimer: false);
        hidden.Render();
        hidden.Dispose();
        Assert.False(hidden.Enabled);
        Assert.Equal("", terminal.ToString());
    }

    [Fact]
    public void Record_shows_no_progress_when_stderr_is_redirected()
    {
        // Tests run with stderr redirected, as in a pipe or a log: only the start and end lines, no control codes.
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            string data = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-progress-{Environment.ProcessId}.data");
            var r = Tool.Run(["record", "-e", "cpu-clock", "-p", sleeper.Id.ToString(), "--duration", "1.5s", "-o", data]);
            File.Delete(data);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("Captured and wrote", r.Stderr);
            Assert.DoesNotContain("\x1b", r.Stderr);
            Assert.DoesNotContain("recording:", r.Stderr);
        }
        finally { sleeper.Kill(); }
    }

    [Fact]
    public void Record_shows_progress_on_a_terminal()
    {
        // util-linux script(1) runs the command on a pseudo-terminal and copies what it wrote to its own stdout.
        if (!File.Exists("/usr/bin/script")) { log.WriteLine("skipped: /usr/bin/script (util-linux) is absent"); return; }
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            string data = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-progress-tty-{Environment.ProcessId}.data");
            string command = $"dotnet '{Tool.DllPath}' record -e cpu-clock -p {sleeper.Id} --duration 2.5s -o '{data}'";
            var r = ProcessRunner.Run("/usr/bin/script", ["-qec", command, "/dev/null"], TimeSpan.FromMinutes(1));
            File.Delete(data);
            Assert.True(r.ExitCode == 0, r.ToString());
            string tty = r.Stdout;
            log.WriteLine(tty.Replace("\x1b", "ESC").Replace("\r", "\\r"));
            Assert.Contains("\x1b[?25l", tty);
            Assert.Contains("\r\x1b[2K[00:00:01] recording: ", tty);
            Assert.Contains("(Ctrl-C to stop)", tty);
            // Erased and the cursor shown again before the summary, which starts at the left margin.
            Assert.Matches("\r\x1b\\[2K\x1b\\[\\?25h\\[ dotnet-ptrace record: Captured and wrote", tty);
        }
        finally { sleeper.Kill(); }
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
