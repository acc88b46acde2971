namespace DotnetPtrace.Native;

/// <summary>
/// The /proc/sys/kernel knobs that decide whether perf_event_open and the ring mmaps succeed. Read on demand,
/// only to explain a failure, so a missing file gives null rather than an error.
/// </summary>
public static class KernelSettings
{
    public static int? Paranoid => ReadInt("/proc/sys/kernel/perf_event_paranoid");
    public static int? MlockKb => ReadInt("/proc/sys/kernel/perf_event_mlock_kb");
    public static int? MaxSampleRate => ReadInt("/proc/sys/kernel/perf_event_max_sample_rate");

    public static unsafe ulong? MemlockLimitBytes
    {
        get
        {
            ulong* rlim = stackalloc ulong[2];
            return Interop.Sys.GetRlimit(Interop.Sys.RLIMIT_MEMLOCK, rlim) == 0 ? rlim[0] : null;
        }
    }

    private static int? ReadInt(string path)
    {
        try { return int.TryParse(File.ReadAllText(path).Trim(), out var v) ? v : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
