using Microsoft.Win32.SafeHandles;

namespace DotnetPtrace.Cli.Record;

/// <summary>`record -o -`: the recording goes to stdout as a perf.data pipe-mode stream, as with `perf record -o -`.</summary>
public static class StreamOutput
{
    public const string Name = "-";

    public static bool IsRequested(string output) => output == Name;

    /// <summary>
    /// Refuses a terminal: a binary stream there is garbage on the screen and never what was meant.
    /// Call before anything is opened or started.
    /// </summary>
    public static void CheckNotTerminal()
    {
        if (!Console.IsOutputRedirected)
            throw new UsageException("-o - writes a binary perf.data stream to stdout, which is a terminal; pipe it (| dotnet-ptrace script -i -) or redirect it (> FILE)");
    }

    /// <summary>
    /// Standard output as an unbuffered stream that reports a closed pipe. Console.OpenStandardOutput is no use here:
    /// it swallows EPIPE by design, so a recording into `| head` would never learn that its reader left.
    /// (.NET ignores SIGPIPE, so the write returns EPIPE instead of killing us.) The descriptor stays open.
    /// </summary>
    public static FileStream OpenStandardOutput() =>
        new(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
}
