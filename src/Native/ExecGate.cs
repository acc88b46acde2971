using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>
/// Starts a command held at a gate just before its <c>execve</c>, so events can be opened on its pid with
/// <c>enable_on_exec</c> and start counting at the command's first instruction. .NET must not fork() from managed
/// code, so the gate is a POSIX shell started by <see cref="Process"/>: it blocks reading a pipe that only we can
/// write (reached through /proc/OURPID/fd/N, so no descriptor has to be inherited), then <c>exec</c>s the command
/// in its own process: same pid, so our events follow it. If we die before releasing it, the read sees EOF and the
/// gate exits without running the command.
/// </summary>
public sealed unsafe class ExecGate : IDisposable
{
    /// <summary>Exit status of a gate whose pipe closed before it was released.</summary>
    public const int AbortedExitCode = 125;

    private readonly Process _process;
    private int _writeFd;
    private int _readFd;

    public int Pid => _process.Id;
    public string CommandPath { get; }

    private ExecGate(Process process, int readFd, int writeFd, string commandPath)
    {
        _process = process;
        _readFd = readFd;
        _writeFd = writeFd;
        CommandPath = commandPath;
    }

    /// <summary>
    /// Starts the gate for <paramref name="command"/>; throws <see cref="CommandNotFoundException"/> when it cannot run.
    /// <paramref name="stdoutToStderr"/>: the command's stdout goes to its stderr, as perf does when it writes the
    /// recording to stdout (`record -o -`), so the command's output cannot corrupt the stream.
    /// </summary>
    public static ExecGate Start(IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? environment = null, bool stdoutToStderr = false)
    {
        if (command.Count == 0) throw new ArgumentException("empty command", nameof(command));
        string path = CommandResolver.Resolve(command[0]);
        int* fds = stackalloc int[2];
        if (Sys.Pipe2(fds, O_CLOEXEC) != 0)
            throw new PerfException($"cannot create the exec gate pipe: {PerfErrorExplainer.Strerror(Marshal.GetLastPInvokeError())}");
        int readFd = fds[0], writeFd = fds[1];

        // `read` returns non-zero on EOF (we closed the pipe without releasing): leave without running anything.
        string script = $"read -r _ < /proc/{Sys.GetPid()}/fd/{readFd} || exit {AbortedExitCode}; exec \"$@\"" + (stdoutToStderr ? " >&2" : "");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(command[0]);   // $0 of the gate, so its messages name the command
        psi.ArgumentList.Add(path);
        for (int i = 1; i < command.Count; i++) psi.ArgumentList.Add(command[i]);
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new PerfException("cannot start /bin/sh for the exec gate");
        }
        catch (Win32Exception e)
        {
            Sys.Close(readFd); Sys.Close(writeFd);
            throw new PerfException($"cannot start /bin/sh for the exec gate: {e.Message}");
        }
        return new ExecGate(process, readFd, writeFd, path);
    }

    /// <summary>
    /// Lets the command exec. Events opened with enable_on_exec start now. Only the write end is closed: the gate
    /// may not have opened /proc/OURPID/fd/N yet, and that path exists only while we keep the read end open; the
    /// newline waits in the pipe until it reads it.
    /// </summary>
    public void Release()
    {
        if (_writeFd < 0) return;
        byte newline = (byte)'\n';
        if (Sys.Write(_writeFd, &newline, 1) != 1)
            throw new PerfException($"cannot release the exec gate: {PerfErrorExplainer.Strerror(Marshal.GetLastPInvokeError())}");
        Sys.Close(_writeFd);
        _writeFd = -1;
    }

    /// <summary>Kills the gate (or the command, once released) and its process group is left alone.</summary>
    public void Kill()
    {
        CloseFds();
        try { if (!_process.HasExited) _process.Kill(); } catch (InvalidOperationException) { }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The command's exit status as a shell reports it: the code, or 128 + signal number.</summary>
    public int ExitCode => _process.ExitCode;

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    private void CloseFds()
    {
        if (_writeFd >= 0) { Sys.Close(_writeFd); _writeFd = -1; }
        if (_readFd >= 0) { Sys.Close(_readFd); _readFd = -1; }
    }

    public void Dispose()
    {
        CloseFds();
        _process.Dispose();
    }
}

/// <summary>The command could not be run: not found (exit 127) or not executable (exit 126), as a shell reports.</summary>
public sealed class CommandNotFoundException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Finds a command the way execvp does: a name with a slash is a path, anything else is looked up on PATH.</summary>
public static class CommandResolver
{
    public static string Resolve(string name)
    {
        if (name.Contains('/'))
        {
            if (!File.Exists(name))
                throw new CommandNotFoundException($"{name}: No such file or directory", 127);
            if (!IsExecutable(name))
                throw new CommandNotFoundException($"{name}: Permission denied", 126);
            return name;
        }
        string pathVar = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (string dir in pathVar.Split(':'))
        {
            string candidate = Path.Combine(dir.Length == 0 ? "." : dir, name);
            if (File.Exists(candidate) && IsExecutable(candidate)) return candidate;
        }
        throw new CommandNotFoundException($"{name}: command not found", 127);
    }

    private static bool IsExecutable(string path) =>
        (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
