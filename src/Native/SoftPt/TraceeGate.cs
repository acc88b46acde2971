using System.Collections;
using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// Starts the command to single-step held at a gate, like <see cref="ExecGate"/>, but spawned with posix_spawn
/// instead of System.Diagnostics.Process. Why: Process reaps the children it started from its SIGCHLD handler with
/// waitpid(pid, WNOHANG), and for a pid we also trace that call would consume our ptrace stop reports (and take a
/// stop for an exit). A posix_spawn child is unknown to Process: its SIGCHLD handler only peeks at it (waitid
/// with WNOWAIT) and leaves its statuses to us. (The one exception: when .NET is pid 1 or inherited SIGCHLD as
/// ignored, it reaps every child, and tracing from such a process is unreliable.) posix_spawn runs no managed code
/// in the child (glibc uses clone(CLONE_VM|CLONE_VFORK) then execve), so it is as safe as Process.Start.
///
/// The gate is /bin/sh blocked reading a pipe only we can write (reached through /proc/OURPID/fd/N); once
/// released it applies the redirections and execs the command in the same pid, which the tracer has seized: the
/// PTRACE_EVENT_EXEC stop of that exec is where single-stepping starts. Signal dispositions are reset to default
/// and the signal mask emptied in the child, as Process.Start does (.NET ignores SIGPIPE, and ignored signals
/// would otherwise survive the exec).
/// </summary>
internal sealed unsafe class TraceeGate : IDisposable
{
    /// <summary>Exit status of a gate whose pipe closed before it was released.</summary>
    public const int AbortedExitCode = 125;

    private int _readFd, _writeFd;

    public int Pid { get; }

    private TraceeGate(int pid, int readFd, int writeFd)
    {
        Pid = pid;
        _readFd = readFd;
        _writeFd = writeFd;
    }

    public static TraceeGate Spawn(string resolvedPath, IReadOnlyList<string> command, SoftPtTracerOptions options)
    {
        int* fds = stackalloc int[2];
        if (Sys.Pipe2(fds, O_CLOEXEC) != 0)
            throw new PerfException($"cannot create the exec gate pipe: {PerfErrorExplainer.Strerror(Marshal.GetLastPInvokeError())}");
        int readFd = fds[0], writeFd = fds[1];

        // $1..$4: working directory, stdin, stdout, stderr ("" = inherit); then the command.
        string script = $"read -r _ < /proc/{Environment.ProcessId}/fd/{readFd} || exit {AbortedExitCode}; " +
                        "if [ -n \"$1\" ]; then cd -- \"$1\" || exit 126; fi; " +
                        "if [ -n \"$2\" ]; then exec < \"$2\" || exit 126; fi; " +
                        "if [ \"$3\" = '&2' ]; then exec >&2; elif [ -n \"$3\" ]; then exec > \"$3\" || exit 126; fi; " +
                        "if [ -n \"$4\" ]; then exec 2> \"$4\" || exit 126; fi; " +
                        "shift 4; exec \"$@\"";
        var argv = new List<string>
        {
            "/bin/sh", "-c", script, command[0],
            options.WorkingDirectory ?? "", options.StandardInputPath ?? "", options.StandardOutputToStandardError ? "&2" : options.StandardOutputPath ?? "", options.StandardErrorPath ?? "",
            resolvedPath,
        };
        for (int i = 1; i < command.Count; i++) argv.Add(command[i]);

        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            env[(string)e.Key] = (string?)e.Value ?? "";
        if (options.Environment is not null)
            foreach (var (k, v) in options.Environment) env[k] = v;
        var envp = env.Select(kv => kv.Key + "=" + kv.Value).ToList();

        using var nativeArgv = new NativeStringArray(argv);
        using var nativeEnvp = new NativeStringArray(envp);
        byte* attr = stackalloc byte[Sys.PosixSpawnAttrSize];
        byte* all = stackalloc byte[Sys.SigSetSize];
        byte* none = stackalloc byte[Sys.SigSetSize];
        Sys.SigFillSet(all);
        Sys.SigEmptySet(none);
        Sys.PosixSpawnAttrInit(attr);
        int pid = 0, error;
        try
        {
            Sys.PosixSpawnAttrSetFlags(attr, Sys.POSIX_SPAWN_SETSIGDEF | Sys.POSIX_SPAWN_SETSIGMASK);
            Sys.PosixSpawnAttrSetSigDefault(attr, all);
            Sys.PosixSpawnAttrSetSigMask(attr, none);
            error = Sys.PosixSpawn(&pid, nativeArgv.Pointers[0], null, attr, nativeArgv.Pointers, nativeEnvp.Pointers);
        }
        finally
        {
            Sys.PosixSpawnAttrDestroy(attr);
        }
        if (error != 0)
        {
            Sys.Close(readFd); Sys.Close(writeFd);
            throw new PerfException($"cannot start /bin/sh for the exec gate: {PerfErrorExplainer.Strerror(error)}", error);
        }
        return new TraceeGate(pid, readFd, writeFd);
    }

    /// <summary>Lets the gate exec the command. Only the write end is closed: the gate may not have opened our read end yet.</summary>
    public void Release()
    {
        if (_writeFd < 0) return;
        byte newline = (byte)'\n';
        if (Sys.Write(_writeFd, &newline, 1) != 1)
            throw new PerfException($"cannot release the exec gate: {PerfErrorExplainer.Strerror(Marshal.GetLastPInvokeError())}");
        Sys.Close(_writeFd);
        _writeFd = -1;
    }

    /// <summary>Closes the pipe: an unreleased gate then reads EOF and exits without running the command.</summary>
    public void Dispose()
    {
        if (_writeFd >= 0) { Sys.Close(_writeFd); _writeFd = -1; }
        if (_readFd >= 0) { Sys.Close(_readFd); _readFd = -1; }
    }

    /// <summary>A NULL-terminated char*[] of UTF-8 strings in native memory, for execve-style calls.</summary>
    private sealed class NativeStringArray : IDisposable
    {
        public byte** Pointers { get; }
        private readonly int _count;

        public NativeStringArray(IReadOnlyList<string> strings)
        {
            _count = strings.Count;
            Pointers = (byte**)NativeMemory.AllocZeroed((nuint)(_count + 1), (nuint)sizeof(byte*));
            for (int i = 0; i < _count; i++) Pointers[i] = (byte*)Marshal.StringToCoTaskMemUTF8(strings[i]);
        }

        public void Dispose()
        {
            for (int i = 0; i < _count; i++) Marshal.FreeCoTaskMem((nint)Pointers[i]);
            NativeMemory.Free(Pointers);
        }
    }
}
