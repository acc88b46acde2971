using System.Globalization;

namespace DotnetPtrace.Native;

/// <summary>What /proc says about processes and threads, read the same way everywhere.</summary>
public static class ProcFs
{
    public static bool Exists(int pid, string procRoot = "/proc") => Directory.Exists(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The thread ids of a process, leader first; empty when it has exited.</summary>
    public static List<int> Threads(int pid, string procRoot = "/proc")
    {
        var tids = new List<int>();
        try
        {
            foreach (string t in Directory.EnumerateDirectories(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "task")))
                if (int.TryParse(Path.GetFileName(t), out int tid)) tids.Add(tid);
        }
        catch (DirectoryNotFoundException) { return []; }
        tids.Sort((a, b) => a == pid ? -1 : b == pid ? 1 : a.CompareTo(b));
        return tids;
    }

    /// <summary>The process a thread belongs to (Tgid in /proc/TID/status).</summary>
    public static int ProcessOf(int tid, string procRoot = "/proc")
    {
        foreach (string line in File.ReadLines(Path.Combine(procRoot, tid.ToString(CultureInfo.InvariantCulture), "status")))
            if (line.StartsWith("Tgid:", StringComparison.Ordinal)) return int.Parse(line.AsSpan(5).Trim(), CultureInfo.InvariantCulture);
        return tid;
    }
}

/// <summary>realpath(3): the path with every symlink resolved, as perf names files in address filters.</summary>
public static unsafe class RealPath
{
    /// <summary>The resolved path, or null with the errno text when it cannot be resolved (missing, no permission).</summary>
    public static string? TryResolve(string path, out string? error)
    {
        byte* buffer = stackalloc byte[Interop.Sys.PATH_MAX];
        byte* result = Interop.Sys.RealPath(path, buffer);
        if (result == null)
        {
            error = PerfErrorExplainer.Strerror(System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
            return null;
        }
        error = null;
        return System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)result);
    }
}
