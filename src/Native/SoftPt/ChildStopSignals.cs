using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// Turns off SIGCHLD for stopped children while single-stepping. The kernel sends the tracer's process a SIGCHLD at
/// every ptrace stop unless its SIGCHLD action has SA_NOCLDSTOP (do_notify_parent_cldstop); waitpid is woken either
/// way. Once System.Diagnostics.Process has been used, .NET handles each SIGCHLD on its signal thread (a wake-up,
/// a waitid and a waitpid per child it started): measured here, that halves the steps per second. .NET only acts on
/// children that exited, which still raise SIGCHLD, so adding SA_NOCLDSTOP to whatever handler is installed
/// changes nothing it relies on. The flag is restored when the last tracer finishes, unless someone replaced the
/// action meanwhile.
/// </summary>
internal static unsafe class ChildStopSignals
{
    private static readonly object Gate = new();
    private static int _users;
    private static bool _weSetIt;

    public static IDisposable Suppress()
    {
        lock (Gate)
        {
            if (_users++ == 0) _weSetIt = SetFlag(on: true);
        }
        return new Release();
    }

    private sealed class Release : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            lock (Gate)
            {
                if (--_users == 0 && _weSetIt) { SetFlag(on: false); _weSetIt = false; }
            }
        }
    }

    /// <summary>Sets or clears SA_NOCLDSTOP on the current SIGCHLD action; true when this call changed it.</summary>
    private static bool SetFlag(bool on)
    {
        byte* action = stackalloc byte[Sys.SigactionSize + 64];
        if (Sys.Sigaction(Sys.SIGCHLD, null, action) != 0) return false;
        int* flags = (int*)(action + Sys.SigactionFlagsOffset);
        bool has = (*flags & Sys.SA_NOCLDSTOP) != 0;
        if (has == on) return false;
        *flags = on ? *flags | Sys.SA_NOCLDSTOP : *flags & ~Sys.SA_NOCLDSTOP;
        return Sys.Sigaction(Sys.SIGCHLD, action, null) == 0;
    }
}
