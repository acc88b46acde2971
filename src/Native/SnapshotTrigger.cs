using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native;

/// <summary>
/// A request for an AUX snapshot that wakes the poll loop at once: an eventfd in the poll set. A signal handler
/// (SIGUSR2, as perf's -S uses) or a test calls <see cref="Request"/> from any thread; the loop sees the fd become
/// readable, calls <see cref="TryTake"/> and takes one snapshot however many requests piled up.
/// </summary>
public sealed unsafe class SnapshotTrigger : IDisposable
{
    private int _fd;

    public SnapshotTrigger()
    {
        _fd = Sys.EventFd(0, Sys.EFD_CLOEXEC | Sys.EFD_NONBLOCK);
        if (_fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new PerfException($"eventfd failed: {PerfErrorExplainer.Strerror(errno)}", errno);
        }
    }

    /// <summary>The fd to poll for POLLIN.</summary>
    public int Fd => _fd;

    /// <summary>Asks for a snapshot. Safe from any thread; never blocks (the counter saturates long after 2^63).</summary>
    public void Request()
    {
        ulong one = 1;
        Sys.Write(_fd, &one, sizeof(ulong));
    }

    /// <summary>True (once) when snapshots were requested since the last call; resets the counter.</summary>
    public bool TryTake()
    {
        ulong count = 0;
        return Sys.Read(_fd, &count, sizeof(ulong)) == sizeof(ulong) && count > 0;
    }

    /// <summary>
    /// Requests a snapshot whenever this process receives <paramref name="signal"/> (perf's -S answers SIGUSR2), until
    /// the returned registration is disposed. .NET's PosixSignalRegistration takes raw signal numbers on Linux; the
    /// handler cancels the default action (which for SIGUSR2 would end the process).
    /// </summary>
    public IDisposable RequestOn(int signal) =>
        System.Runtime.InteropServices.PosixSignalRegistration.Create((System.Runtime.InteropServices.PosixSignal)signal, context =>
        {
            context.Cancel = true;
            Request();
        });

    public void Dispose()
    {
        if (_fd < 0) return;
        Sys.Close(_fd);
        _fd = -1;
    }
}
