using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native;

/// <summary>kill(2) for the few signals a recorder sends to its target.</summary>
public static class Signals
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGUSR2 = 12;

    /// <summary>Sends a signal; false when the process is gone.</summary>
    public static bool Send(int pid, int signal) => Sys.Kill(pid, signal) == 0;
}

/// <summary>access(2): asks the kernel, which knows about root, ACLs and read-only mounts.</summary>
public static class Access
{
    private const int W_OK = 2;

    public static bool CanWrite(string path) => Sys.Access(path, W_OK) == 0;
}
