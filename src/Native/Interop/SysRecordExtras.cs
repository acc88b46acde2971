using System.Runtime.InteropServices;

namespace DotnetPtrace.Native.Interop;

/// <summary>eventfd(2) and read(2): a counter the poll loop can wait on next to the perf fds; realpath(3).</summary>
internal static unsafe partial class Sys
{
    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buf, nuint count);

    public const int PATH_MAX = 4096;

    /// <summary>Every symlink and ./.. resolved into <paramref name="resolved"/> (PATH_MAX bytes); null on failure.</summary>
    [LibraryImport(Libc, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial byte* RealPath(string path, byte* resolved);
}
