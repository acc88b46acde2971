using System.Globalization;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// The few fields of /proc/TID/status that attaching and detaching need: the state letter (R, S, D, T, t, Z...), the
/// pid of the tracer (0: none) and the signals queued for this thread alone (SigPnd, a hex mask, bit N-1 for signal N).
/// </summary>
public readonly record struct ThreadStatus(char State, int TracerPid, ulong PendingSignals)
{
    /// <summary>The status of <paramref name="tid"/>, or null when it does not exist (any more).</summary>
    public static ThreadStatus? Read(int tid)
    {
        char state = '?';
        int tracer = 0;
        ulong pending = 0;
        try
        {
            foreach (string line in File.ReadLines($"/proc/{tid.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (line.StartsWith("State:", StringComparison.Ordinal)) state = line.AsSpan(6).Trim() is { Length: > 0 } s ? s[0] : '?';
                else if (line.StartsWith("TracerPid:", StringComparison.Ordinal)) tracer = int.Parse(line.AsSpan(10).Trim(), CultureInfo.InvariantCulture);
                else if (line.StartsWith("SigPnd:", StringComparison.Ordinal)) pending = ulong.Parse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return new ThreadStatus(state, tracer, pending);
    }

    /// <summary>True when no thread of <paramref name="pid"/> is left running: all zombies (a main thread that called
    /// pthread_exit is one while its siblings run on) or gone.</summary>
    public static bool IsZombieProcess(int pid)
    {
        foreach (int tid in ProcFs.Threads(pid))
            if (Read(tid) is { State: not ('Z' or 'X') }) return false;
        return true;
    }

    public bool IsPending(int signal) => (PendingSignals & (1UL << (signal - 1))) != 0;

    /// <summary>
    /// Why <paramref name="pid"/> cannot be attached to, in words, or null when nothing is known against it (the
    /// seize may still fail, e.g. for lack of permission).
    /// </summary>
    public static string? AttachProblem(int pid)
    {
        if (Read(pid) is not { } status) return "no such process";
        if (IsZombieProcess(pid)) return "the process has exited (a zombie its parent has not reaped): nothing runs to trace";
        if (status.TracerPid != 0)
        {
            // TracerPid is the tracing thread; name its process (gdb, strace, another dotnet-ptrace).
            int tracer = status.TracerPid;
            string comm = "";
            try
            {
                tracer = ProcFs.ProcessOf(tracer);
                comm = File.ReadAllText($"/proc/{tracer.ToString(CultureInfo.InvariantCulture)}/comm").Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            return $"it is already traced by pid {tracer}{(comm.Length > 0 ? $" ({comm})" : "")}, and a process has one tracer at a time: detach that one first";
        }
        return null;
    }
}
