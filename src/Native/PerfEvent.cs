using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native.Interop;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>
/// perf_event_open and the per-fd ioctls. The only place that calls the syscall; everything else gets a
/// <see cref="PerfEventHandle"/> from here.
/// </summary>
public static unsafe class PerfEvent
{
    /// <summary>PERF_FLAG_FD_CLOEXEC: the fd must not leak into the command we launch.</summary>
    public const ulong FlagFdCloexec = 8;

    /// <summary>
    /// Opens one event. <paramref name="attr"/>.Size is set by the kernel's size protocol: we offer our newest
    /// layout; on E2BIG the kernel writes back the size it knows, and we retry with it (or the next smaller
    /// published size) as long as that drops only zero bytes, since a non-zero field beyond it would be a
    /// feature silently lost.
    /// </summary>
    public static PerfEventHandle Open(ref PerfEventAttr attr, int pid, int cpu, PerfEventHandle? group, string eventName,
        Func<IReadOnlyList<string>>? pmusPresent = null)
    {
        if (attr.Size == 0) attr.Size = PerfEventAttr.SizeVer8;
        while (true)
        {
            int groupFd = group?.Fd ?? -1;
            long fd;
            int errno;
            fixed (PerfEventAttr* p = &attr)
            {
                fd = Sys.Syscall5(Sys.PerfEventOpenSyscallNumber, p, pid, cpu, groupFd, FlagFdCloexec);
                errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            if (fd >= 0) return new PerfEventHandle((int)fd);
            if (errno == E2BIG && TrySmallerSize(ref attr)) continue;
            if (errno == EINTR) continue;
            throw new PerfException(PerfErrorExplainer.ExplainOpen(errno, eventName, attr, pid, cpu, pmusPresent?.Invoke()), errno);
        }
    }

    private static bool TrySmallerSize(ref PerfEventAttr attr)
    {
        // The kernel wrote the size it supports into attr.Size; if it did not, step down one version.
        uint offered = attr.Size;
        uint next = 0;
        foreach (int s in PerfEventAttr.KnownSizes)
            if (s < offered) { next = (uint)s; break; }
        if (attr.Size is > 0 and < PerfEventAttr.SizeVer8 && attr.Size != offered) next = attr.Size;
        if (next == 0) return false;
        var bytes = MemoryMarshal.AsBytes(new Span<PerfEventAttr>(ref attr));
        if (bytes[(int)next..(int)Math.Min(offered, (uint)bytes.Length)].IndexOfAnyExcept((byte)0) >= 0) return false;
        attr.Size = next;
        return true;
    }

    public static void Enable(PerfEventHandle fd) => Ioctl(fd, PerfIoctl.Enable, 0, "enable");
    public static void Disable(PerfEventHandle fd) => Ioctl(fd, PerfIoctl.Disable, 0, "disable");
    public static void Reset(PerfEventHandle fd) => Ioctl(fd, PerfIoctl.Reset, 0, "reset");
    /// <summary>Enable for <paramref name="count"/> more overflows, then disable (PERF_EVENT_IOC_REFRESH).</summary>
    public static void Refresh(PerfEventHandle fd, int count) => Ioctl(fd, PerfIoctl.Refresh, (ulong)count, "refresh");
    /// <summary>Sends <paramref name="fd"/>'s records into <paramref name="target"/>'s ring (same CPU required).</summary>
    public static void SetOutput(PerfEventHandle fd, PerfEventHandle target) => Ioctl(fd, PerfIoctl.SetOutput, (ulong)target.Fd, "set_output");
    public static void PauseOutput(PerfEventHandle fd, bool pause) => Ioctl(fd, PerfIoctl.PauseOutput, pause ? 1UL : 0UL, "pause_output");

    public static void SetPeriod(PerfEventHandle fd, ulong period)
    {
        ulong value = period;
        IoctlPtr(fd, PerfIoctl.Period, &value, "period");
    }

    /// <summary>The event id the kernel puts in samples (PERF_SAMPLE_ID / IDENTIFIER) and perf.data's attr ids.</summary>
    public static ulong GetId(PerfEventHandle fd)
    {
        ulong id = 0;
        IoctlPtr(fd, PerfIoctl.Id, &id, "id");
        return id;
    }

    /// <summary>Address filters (e.g. "filter main @ /bin/ls") or tracepoint filters ("prev_pid == 1").</summary>
    public static void SetFilter(PerfEventHandle fd, string filter)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(filter) + 1];
        System.Text.Encoding.UTF8.GetBytes(filter, bytes);
        fixed (byte* p = bytes) IoctlPtr(fd, PerfIoctl.SetFilter, p, $"set_filter '{filter}'");
    }

    /// <summary>Changes attributes of a live event (the kernel allows only breakpoint fields today).</summary>
    public static void ModifyAttributes(PerfEventHandle fd, ref PerfEventAttr attr)
    {
        fixed (PerfEventAttr* p = &attr) IoctlPtr(fd, PerfIoctl.ModifyAttributes, p, "modify_attributes");
    }

    private static void Ioctl(PerfEventHandle fd, ulong request, ulong arg, string name)
    {
        if (Sys.Ioctl(fd.Fd, request, arg) < 0)
            ThrowIoctl(Marshal.GetLastPInvokeError(), name);
    }

    private static void IoctlPtr(PerfEventHandle fd, ulong request, void* arg, string name)
    {
        if (Sys.Ioctl(fd.Fd, request, arg) < 0)
            ThrowIoctl(Marshal.GetLastPInvokeError(), name);
    }

    private static void ThrowIoctl(int errno, string name) =>
        throw new PerfException($"perf ioctl {name} failed: {PerfErrorExplainer.Strerror(errno)}", errno);
}
