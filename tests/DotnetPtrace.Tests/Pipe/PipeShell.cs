using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Pipe;

/// <summary>
/// Shell pipelines for the pipe-mode tests: a real pipe between the writer and the reader is the point, so they run
/// under bash. Paths are single-quoted (temp paths never hold a quote).
/// <para>
/// perf is always fed through `cat`, never `&lt; file`: perf 6.1 seeks on a seekable stdin to read an AUXTRACE
/// payload, at an offset that leaves out the 16-byte pipe header (session.c `lseek(fd, file_offset +
/// header.size)`), so a saved stream with AUXTRACE redirected from a file is misread by perf (a "Bad packet" and
/// "unexpected end of event stream"); through a real pipe the seek fails and perf reads on.
/// </para>
/// </summary>
internal static partial class PipeShell
{
    /// <summary>Our CLI as a shell word.</summary>
    public static string Tool => $"dotnet '{Infrastructure.Tool.DllPath}'";

    public static string Perf => $"'{Infrastructure.Perf.Executable}'";

    public static ProcessResult Run(string script, int timeoutSeconds = 120) =>
        ProcessRunner.Run("bash", ["-c", "set -o pipefail; " + script], TimeSpan.FromSeconds(timeoutSeconds));

    /// <summary>perf on a saved stream, through a pipe; asserts it exits 0 and complains about nothing.</summary>
    public static ProcessResult PerfOn(string stream, string arguments, bool allowPipeModePtWarning = false)
    {
        // perf's status, not cat's: `report --header-only` stops reading at the end of the features, and cat then
        // meets a closed pipe.
        var r = Run($"cat '{stream}' 2>/dev/null | {Perf} {arguments} -i -; exit ${{PIPESTATUS[1]}}");
        string stderr = allowPipeModePtWarning ? PtPipeWarning().Replace(r.Stderr, "") : r.Stderr;
        Infrastructure.Perf.AssertClean(r with { Stderr = stderr }, allowLost: false);
        return r;
    }

    /// <summary>Our CLI on a saved stream, through a pipe (`-i -`); asserts exit 0.</summary>
    public static ProcessResult ToolOn(string stream, string arguments)
    {
        var r = Run($"cat '{stream}' | {Tool} {arguments} -i -");
        Assert.True(r.ExitCode == 0, $"{arguments} -i -: {r}");
        return r;
    }

    /// <summary>perf's fixed notice for Intel PT read from a pipe (perf-intel-pt.txt "Pipe mode"): expected, not a fault.</summary>
    [GeneratedRegex(@"WARNING: Intel PT with pipe mode is not recommended\.\s+The output cannot relied upon\.\s+In particular,\s+timestamps and the order of events may be incorrect\.\s*")]
    private static partial Regex PtPipeWarning();
}
