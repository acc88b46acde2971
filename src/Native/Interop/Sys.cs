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

    // ---- ptrace single-stepping (src/Native/SoftPt) ----

    /// <summary>glibc's ptrace wrapper: for PEEK* requests it returns the word read (errno tells a -1 word from a failure).</summary>
    [LibraryImport(Libc, EntryPoint = "ptrace", SetLastError = true)]
    public static partial long Ptrace(long request, int pid, nint addr, nint data);

    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, int* status, int options);

    /// <summary>Returns 0 or an errno value (posix_spawn does not set errno).</summary>
    [LibraryImport(Libc, EntryPoint = "posix_spawn")]
    public static partial int PosixSpawn(int* pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_init")]
    public static partial int PosixSpawnAttrInit(void* attributes);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_destroy")]
    public static partial int PosixSpawnAttrDestroy(void* attributes);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_setflags")]
    public static partial int PosixSpawnAttrSetFlags(void* attributes, short flags);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_setsigdefault")]
    public static partial int PosixSpawnAttrSetSigDefault(void* attributes, void* signalSet);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_setsigmask")]
    public static partial int PosixSpawnAttrSetSigMask(void* attributes, void* signalSet);

    [LibraryImport(Libc, EntryPoint = "sigfillset")]
    public static partial int SigFillSet(void* signalSet);

    [LibraryImport(Libc, EntryPoint = "sigemptyset")]
    public static partial int SigEmptySet(void* signalSet);

    /// <summary>POSIX_SPAWN_SETSIGDEF and POSIX_SPAWN_SETSIGMASK (glibc).</summary>
    public const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    /// <summary>Bytes to reserve for a posix_spawnattr_t (336 on glibc x86-64/arm64) and a sigset_t (128).</summary>
    public const int PosixSpawnAttrSize = 512, SigSetSize = 128;

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(int fd, void* buffer, nuint count, long offset);

    [LibraryImport(Libc, EntryPoint = "sched_yield")]
    public static partial int SchedYield();

    [LibraryImport(Libc, EntryPoint = "usleep")]
    public static partial int USleep(uint microseconds);

    /// <summary>sigaction with glibc's struct sigaction passed as raw bytes (see <see cref="SigactionSize"/>).</summary>
    [LibraryImport(Libc, EntryPoint = "sigaction", SetLastError = true)]
    public static partial int Sigaction(int signal, void* action, void* oldAction);

    /// <summary>glibc x86-64 struct sigaction: handler (8), sa_mask (128), sa_flags (int, at 136), sa_restorer: 152 bytes.</summary>
    public const int SigactionSize = 152, SigactionFlagsOffset = 136;
    public const int SA_NOCLDSTOP = 1, SIGCHLD = 17;

    public static readonly void* MapFailed = (void*)-1;
}
