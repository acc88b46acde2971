namespace DotnetPtrace.Native;

/// <summary>
/// A failure at the kernel boundary, phrased for the person at the terminal: what failed, why (the errno and
/// what it means in this context), and what to do about it. <see cref="Message"/> is one line.
/// </summary>
public sealed class PerfException(string message, int errno = 0) : Exception(message)
{
    /// <summary>The errno that caused it, or 0 when the failure was found before any syscall.</summary>
    public int Errno { get; } = errno;
}
