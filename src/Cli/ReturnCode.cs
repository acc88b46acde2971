namespace DotnetPtrace.Cli;

/// <summary>
/// Exit codes of dotnet-ptrace itself. When it launches a command the command's own status wins (as with perf
/// and dotnet-trace), so these apply to attach/system-wide runs and to failures before the command runs.
/// </summary>
public static class ReturnCode
{
    public const int Ok = 0;
    /// <summary>Bad option or usage (System.CommandLine's parse errors also exit 1).</summary>
    public const int UsageError = 1;
    /// <summary>The events could not be opened or mapped (permissions, missing PMU, limits).</summary>
    public const int SessionError = 2;
    /// <summary>Recording started but failed part way (disk full, write error); what was captured is kept.</summary>
    public const int RecordingError = 3;
    /// <summary>The command exists but cannot be executed (shell convention).</summary>
    public const int CommandNotExecutable = 126;
    /// <summary>The command was not found (shell convention).</summary>
    public const int CommandNotFound = 127;
    /// <summary>Interrupted before a usable file existed (128 + SIGINT).</summary>
    public const int Interrupted = 130;
}
