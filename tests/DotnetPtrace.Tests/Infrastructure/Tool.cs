using System.Diagnostics;

namespace DotnetPtrace.Tests.Infrastructure;

/// <summary>Runs dotnet-ptrace as users do: a separate process, with real signals and exit codes.</summary>
public static class Tool
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "dotnet-ptrace.dll");

    public static ProcessResult Run(IEnumerable<string> args, TimeSpan? timeout = null, Action<Process>? whileRunning = null, string? workingDirectory = null) =>
        ProcessRunner.Run("dotnet", [DllPath, .. args], timeout ?? TimeSpan.FromSeconds(120), whileRunning, workingDirectory);

    /// <summary>Starts the tool without waiting, for tests that signal it.</summary>
    public static Process Start(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(DllPath);
        foreach (string a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}

/// <summary>Linux perf, the independent oracle for every perf.data we write. CI installs it (linux-perf).</summary>
public static class Perf
{
    public static string Executable
    {
        get
        {
            foreach (string p in new[] { "/usr/bin/perf", "/usr/local/bin/perf" })
                if (File.Exists(p)) return p;
            throw new InvalidOperationException("Linux perf is not installed: apt-get install linux-perf (.ci/run does)");
        }
    }

    public static ProcessResult Run(params string[] args) => ProcessRunner.Run(Executable, args, TimeSpan.FromSeconds(120));

    /// <summary>perf script with the given fields; asserts perf succeeded and complained about nothing.</summary>
    public static string Script(string file, string fields, params string[] extra)
    {
        var r = Run(["script", "-i", file, "-F", fields, .. extra]);
        AssertClean(r, allowLost: false);
        return r.Stdout;
    }

    public static void AssertClean(ProcessResult r, bool allowLost)
    {
        Xunit.Assert.True(r.ExitCode == 0, $"perf failed: {r}");
        foreach (string line in r.Stderr.Split('\n'))
        {
            string l = line.ToLowerInvariant();
            // perf's lost-data notice is "Warning:\nProcessed N events and lost M chunks!\n\nCheck IO/CPU overload!".
            if (allowLost && (l.Trim() == "warning:" || l.Contains("and lost") || l.Contains("check io/cpu overload"))) continue;
            Xunit.Assert.False(l.Contains("warning") || l.Contains("error") || l.Contains("corrupt") || l.Contains("failed") || l.Contains("invalid"),
                $"perf complained: {line}\n{r}");
        }
    }
}
