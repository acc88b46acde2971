using System.Runtime.InteropServices;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// mount(2) for tracefs, kept apart because it is the one system call the event code makes. Machines with systemd
/// mount tracefs at boot; minimal containers and VMs often do not, and tracepoint ids are only readable from it.
/// </summary>
internal static partial class TracefsMount
{
    // The flags systemd uses for /sys/kernel/tracing: nothing on it is meant to be executed or be a device.
    private const ulong MS_NOSUID = 2;
    private const ulong MS_NODEV = 4;
    private const ulong MS_NOEXEC = 8;

    /// <summary>Mounts tracefs at <paramref name="target"/>; on failure says why in one phrase.</summary>
    public static bool TryMount(string target, out string error)
    {
        int result = Mount("nodev", target, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
        // Read errno before anything else can run on this thread and overwrite it.
        int errno = result == 0 ? 0 : Marshal.GetLastPInvokeError();
        if (result == 0)
        {
            error = "";
            return true;
        }

        string hint = errno is 1 or 13 ? " (needs root or CAP_SYS_ADMIN)" : "";
        error = $"mount -t tracefs nodev {target} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}){hint}";
        return false;
    }

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string fileSystemType, ulong flags, nint data);
}
