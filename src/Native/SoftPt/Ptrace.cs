using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// The ptrace requests, options, register offsets and wait flags the single-step tracer uses (x86-64 Linux), with
/// thin wrappers that read errno at once. Every call must come from the thread that seized the tracee: ptrace
/// binds a tracee to one tracer thread, not to the process.
/// </summary>
internal static class Ptrace
{
    public const int PEEKUSER = 3, CONT = 7, SINGLESTEP = 9, DETACH = 17, GETEVENTMSG = 0x4201, GETSIGINFO = 0x4202, SEIZE = 0x4206, INTERRUPT = 0x4207;

    public const int O_TRACESYSGOOD = 0x1, O_TRACEFORK = 0x2, O_TRACEVFORK = 0x4, O_TRACECLONE = 0x8, O_TRACEEXEC = 0x10;
    /// <summary>The kernel SIGKILLs every tracee when the tracer thread exits: a crashed tracer leaves no stopped orphans.</summary>
    public const int O_EXITKILL = 0x100000;

    public const int EVENT_FORK = 1, EVENT_VFORK = 2, EVENT_CLONE = 3, EVENT_EXEC = 4, EVENT_STOP = 128;

    /// <summary>Byte offsets of registers in struct user_regs_struct (sys/user.h), what PTRACE_PEEKUSER takes.</summary>
    public const int RegRdx = 12 * 8, RegRsi = 13 * 8, RegRdi = 14 * 8, RegRax = 10 * 8, RegOrigRax = 15 * 8, RegRip = 16 * 8;

    public const int WNOHANG = 1;
    /// <summary>Wait for clone children (threads) too; a traced thread is only reported with it or to its tracer.</summary>
    public const int WALL = 0x40000000;

    public const int EINTR = 4, ESRCH = 3, ECHILD = 10;

    public static void EnsureSupported()
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new PlatformNotSupportedException($"software Intel PT single-steps x86-64 code; this is {RuntimeInformation.ProcessArchitecture}");
    }

    /// <summary>One register of a stopped tracee; throws when the tracee is gone.</summary>
    public static ulong PeekUser(int tid, int offset)
    {
        long value = Sys.Ptrace(PEEKUSER, tid, offset, 0);
        if (value == -1)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != 0) throw new TraceeGoneException(tid, errno);
        }
        return (ulong)value;
    }

    public static ulong GetEventMessage(int tid)
    {
        ulong message = 0;
        unsafe
        {
            if (Sys.Ptrace(GETEVENTMSG, tid, 0, (nint)(&message)) != 0)
                throw new TraceeGoneException(tid, Marshal.GetLastPInvokeError());
        }
        return message;
    }

    /// <summary>Resumes a stopped tracee for one instruction; false when it is no longer in a ptrace stop (killed meanwhile).</summary>
    public static bool TryStep(int tid, int signal) => Resume(SINGLESTEP, tid, signal);

    public static bool TryContinue(int tid, int signal) => Resume(CONT, tid, signal);

    private static bool Resume(int request, int tid, int signal)
    {
        if (Sys.Ptrace(request, tid, 0, signal) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH) return false;
        throw new PerfException($"ptrace({(request == SINGLESTEP ? "PTRACE_SINGLESTEP" : "PTRACE_CONT")}, {tid}): {PerfErrorExplainer.Strerror(errno)}", errno);
    }

    public static void Seize(int pid, int options)
    {
        if (Sys.Ptrace(SEIZE, pid, 0, options) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        string hint = errno == 1 /* EPERM */
            ? " (ptrace is restricted: run as root, or set kernel.yama.ptrace_scope to 0 or 1)"
            : "";
        throw new PerfException($"cannot trace pid {pid}: ptrace(PTRACE_SEIZE): {PerfErrorExplainer.Strerror(errno)}{hint}", errno);
    }

    /// <summary>Asks a seized tracee to stop (it reports PTRACE_EVENT_STOP at its next chance).</summary>
    public static void Interrupt(int tid)
    {
        if (Sys.Ptrace(INTERRUPT, tid, 0, 0) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        throw new PerfException($"ptrace(PTRACE_INTERRUPT, {tid}): {PerfErrorExplainer.Strerror(errno)}", errno);
    }

    /// <summary>Asks a seized tracee to stop; false when it is gone (or no longer ours).</summary>
    public static bool TryInterrupt(int tid) => Sys.Ptrace(INTERRUPT, tid, 0, 0) == 0;

    /// <summary>
    /// Lets a tracee in a ptrace stop go, untraced from now on. From a signal-delivery-stop <paramref name="signal"/>
    /// is delivered (0: the signal is dropped); from other stops it is ignored. False when it is gone.
    /// </summary>
    public static bool TryDetach(int tid, int signal)
    {
        if (Sys.Ptrace(DETACH, tid, 0, signal) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH) return false;
        throw new PerfException($"ptrace(PTRACE_DETACH, {tid}): {PerfErrorExplainer.Strerror(errno)}", errno);
    }

    /// <summary>si_code of the signal a tracee in signal-delivery-stop is about to receive (&gt; 0: sent by the kernel), or null.</summary>
    public static unsafe int? SignalCode(int tid)
    {
        byte* info = stackalloc byte[128];   // siginfo_t: si_signo, si_errno, si_code, ...
        if (Sys.Ptrace(GETSIGINFO, tid, 0, (nint)info) != 0) return null;
        return ((int*)info)[2];
    }

    /// <summary>
    /// waitpid for one tid only (never -1: that would take exit statuses of children that are not ours, such as the
    /// processes System.Diagnostics.Process started). Returns the tid, 0 (nothing yet, with <paramref name="block"/>
    /// false) or -1 with errno ECHILD when the tid is no longer ours to wait for.
    /// </summary>
    public static unsafe int Wait(int tid, bool block, out WaitStatus status)
    {
        int raw = 0;
        int options = WALL | (block ? 0 : WNOHANG);
        while (true)
        {
            int r = Sys.WaitPid(tid, &raw, options);
            if (r >= 0) { status = new WaitStatus(raw); return r; }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;   // a signal (SIGCHLD for .NET's handler) interrupted a blocking wait
            status = default;
            if (errno == ECHILD) return -1;
            throw new PerfException($"waitpid({tid}): {PerfErrorExplainer.Strerror(errno)}", errno);
        }
    }
}

/// <summary>What waitpid reported for a tracee: an exit, a death by signal, or a ptrace stop.</summary>
internal readonly struct WaitStatus(int raw)
{
    public int Raw => raw;
    public bool Exited => (raw & 0x7f) == 0;
    public bool Signaled => (raw & 0x7f) != 0 && (raw & 0x7f) != 0x7f;
    public bool Stopped => (raw & 0xff) == 0x7f;
    public int StopSignal => (raw >> 8) & 0xff;
    /// <summary>PTRACE_EVENT_* of an event stop, 0 for signal stops.</summary>
    public int Event => (raw >> 16) & 0xffff;
    /// <summary>The exit code as a shell reports it: the code, or 128 + the signal that killed it.</summary>
    public int ShellExitCode => Exited ? (raw >> 8) & 0xff : 128 + (raw & 0x7f);
    public override string ToString() =>
        Exited ? $"exited {ShellExitCode}" : Signaled ? $"killed by signal {raw & 0x7f}" : $"stopped sig {StopSignal} event {Event}";
}

/// <summary>A ptrace request found the tracee gone (killed while we looked at it).</summary>
internal sealed class TraceeGoneException(int tid, int errno) : Exception($"tid {tid} is gone: {PerfErrorExplainer.Strerror(errno)}")
{
    public int Tid { get; } = tid;
}
