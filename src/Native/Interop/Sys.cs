using System.Runtime.InteropServices;

namespace DotnetPtrace.Native.Interop;

/// <summary>
/// The libc calls dotnet-ptrace makes, bound with <c>LibraryImport</c> and <c>SetLastError</c> so errno is captured
/// by the marshaller right after the call returns (Tmds.LibC's own errno read is not reliable for the first call and
/// its poll wrapper misbehaves, so we take only its constants and structs). Every caller reads
/// <see cref="Marshal.GetLastPInvokeError"/> immediately after a failing call, before anything else can run.
/// </summary>
internal static unsafe partial class Sys
{
    private const string Libc = "libc";

    /// <summary>__NR_perf_event_open: 298 on x86-64, 241 on arm64 (asm-generic).</summary>
    public static long PerfEventOpenSyscallNumber => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 298,
        Architecture.Arm64 => 241,
        var arch => throw new PlatformNotSupportedException($"perf_event_open syscall number unknown for {arch}"),
    };

    public const int RLIMIT_MEMLOCK = 8;

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall5(long number, void* a1, long a2, long a3, long a4, ulong a5);

    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, ulong arg);

    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, void* arg);

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(void* addr, nuint length);

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(Tmds.Linux.pollfd* fds, ulong nfds, int timeoutMs);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
    public static partial int Pipe2(int* fds, int flags);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport(Libc, EntryPoint = "getrlimit", SetLastError = true)]
    public static partial int GetRlimit(int resource, ulong* rlim);

    [LibraryImport(Libc, EntryPoint = "uname", SetLastError = true)]
    public static partial int Uname(byte* buf);

    [LibraryImport(Libc, EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport(Libc, EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Access(string path, int mode);

    [LibraryImport(Libc, EntryPoint = "setpriority", SetLastError = true)]
    public static partial int SetPriority(int which, int who, int priority);

    [LibraryImport(Libc, EntryPoint = "gettid")]
    public static partial int GetTid();

    public static readonly void* MapFailed = (void*)-1;
}
