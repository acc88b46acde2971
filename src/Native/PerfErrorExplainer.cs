using DotnetPtrace.Decoders.Abi;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>
/// Turns an errno from perf_event_open or a ring mmap into one line that names the cause and the fix. The kernel's
/// errnos are famously unspecific ("The kernel's returned errors are not always helpful"), so the text uses what
/// we know of the request (event name, pid, cpu, attr) to say which of the possible causes is likely.
/// </summary>
public static class PerfErrorExplainer
{
    public static string ExplainOpen(int errno, string eventName, in PerfEventAttr attr, int pid, int cpu,
        IReadOnlyList<string>? pmusPresent = null)
    {
        string target = pid > 0 ? $" for pid {pid}" : pid == -1 ? $" on CPU {cpu}" : "";
        string what = $"cannot open event '{eventName}'{target}";
        switch (errno)
        {
            case var e when e == EACCES || e == EPERM:
                int? paranoid = KernelSettings.Paranoid;
                string level = paranoid is null ? "unknown" : paranoid.Value.ToString();
                string scope = pid == -1 ? "system-wide (-a/-C) recording needs perf_event_paranoid <= 0 or CAP_PERFMON"
                    : !attr.Has(AttrFlags.ExcludeKernel) ? "kernel sampling needs perf_event_paranoid <= 1 or CAP_PERFMON (or add :u to the event)"
                    : "tracing another user's process needs CAP_SYS_PTRACE";
                return $"{what}: permission denied (kernel.perf_event_paranoid = {level}); {scope}. " +
                       "Run as root, grant the capability (setcap cap_perfmon,cap_sys_ptrace+ep), or lower it: sysctl kernel.perf_event_paranoid=-1";
            case var e when e == ENOENT || e == ENODEV || e == EOPNOTSUPP:
                string pmus = pmusPresent is { Count: > 0 } ? $" PMUs on this machine: {string.Join(", ", pmusPresent)}." : "";
                string why = attr.Type == (uint)PerfType.Hardware || attr.Type == (uint)PerfType.HwCache || attr.Type == (uint)PerfType.Raw
                    ? "this machine has no hardware PMU (common in VMs); use a software event such as cpu-clock or task-clock"
                    : errno == EOPNOTSUPP ? "the PMU does not support this mode (sampling, exclusion bits or AUX area)"
                    : "the event or its PMU does not exist on this machine";
                return $"{what}: {Strerror(errno)}: {why}.{pmus}";
            case var e when e == EMFILE:
                return $"{what}: too many open files; one fd is needed per event, CPU and thread. Raise the limit (ulimit -n) or trace fewer CPUs/threads";
            case var e when e == ESRCH:
                return $"{what}: no such process {pid} (it exited, or the pid is wrong)";
            case var e when e == E2BIG:
                return $"{what}: the kernel rejected perf_event_attr size {attr.Size}: it is older than the features asked for ({Strerror(errno)})";
            case var e when e == EBUSY:
                return $"{what}: the PMU is busy (another exclusive or pinned user holds it)";
            case var e when e == EINVAL:
                return $"{what}: invalid argument{SuspectField(attr, cpu)}";
            default:
                return $"{what}: {Strerror(errno)}";
        }
    }

    /// <summary>EINVAL could be almost any field; name the ones we can check from here.</summary>
    private static string SuspectField(in PerfEventAttr attr, int cpu)
    {
        if (attr.Has(AttrFlags.Freq) && KernelSettings.MaxSampleRate is int max && attr.SampleFreq > (ulong)max)
            return $": sample frequency {attr.SampleFreq} Hz exceeds kernel.perf_event_max_sample_rate = {max} (use a lower -F)";
        if (cpu >= Environment.ProcessorCount)
            return $": CPU {cpu} does not exist or is offline";
        if (attr.PreciseIp > 0)
            return $": precise_ip = {attr.PreciseIp} (the :p modifier) is not supported by this event";
        if (attr.Has(AttrFlags.UseClockId))
            return $": clockid {attr.ClockId} is not accepted";
        if (!attr.Has(AttrFlags.Freq) && attr.SamplePeriod >> 63 != 0)
            return $": sample period {attr.SamplePeriod} is too large";
        return " (check the event's terms and modifiers)";
    }

    public static string ExplainMmap(int errno, string what, long bytes)
    {
        if (errno == ENOMEM || errno == EPERM)
        {
            string mlock = KernelSettings.MlockKb is int kb ? $"{kb} KiB" : "unknown";
            string rlimit = KernelSettings.MemlockLimitBytes is ulong l ? (l == ulong.MaxValue ? "unlimited" : $"{l / 1024} KiB") : "unknown";
            return $"cannot map the {what} ({bytes / 1024} KiB): {Strerror(errno)}; locked memory is limited by kernel.perf_event_mlock_kb = {mlock} " +
                   $"(per user, times online CPUs) and RLIMIT_MEMLOCK = {rlimit}. Use fewer pages (-m) or raise them (sysctl kernel.perf_event_mlock_kb=N, ulimit -l)";
        }
        if (errno == EINVAL)
            return $"cannot map the {what} ({bytes / 1024} KiB): invalid argument: the page count must be a power of two, and a per-thread event with inherit cannot be mapped";
        return $"cannot map the {what} ({bytes / 1024} KiB): {Strerror(errno)}";
    }

    public static string Strerror(int errno) => Marshal_GetPInvokeErrorMessage(errno);

    private static string Marshal_GetPInvokeErrorMessage(int errno) =>
        System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
}
