using System.Globalization;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// The kernel's tracing filesystem, where each tracepoint has a directory events/&lt;system&gt;/&lt;name&gt;/ holding
/// its <c>id</c> (perf_event_attr.config for a PERF_TYPE_TRACEPOINT event) and its record <c>format</c>.
/// Without an explicit root it looks in /sys/kernel/tracing, then /sys/kernel/debug/tracing, and if neither is
/// mounted tries to mount tracefs at /sys/kernel/tracing. That happens on first use, not in the constructor, so
/// parsing "cpu-clock" never touches it. When tracefs cannot be had, lookups find nothing and
/// <see cref="UnavailableReason"/> says why.
/// </summary>
public sealed class Tracefs
{
    public const string MountPoint = "/sys/kernel/tracing";
    public const string LegacyMountPoint = "/sys/kernel/debug/tracing";

    private readonly Lazy<(string? Root, string? Why)> _located;

    /// <param name="root">A tracefs directory to use as it is (tests pass a fake tree); null to find the real one.</param>
    public Tracefs(string? root = null)
    {
        _located = new(() => root is null ? LocateSystemTracefs() : CheckRoot(root));
    }

    /// <summary>The tracefs directory in use, or null if there is none.</summary>
    public string? Root => _located.Value.Root;

    public bool IsAvailable => Root is not null;

    /// <summary>Why tracefs could not be used, for error messages; null when it is available.</summary>
    public string? UnavailableReason => _located.Value.Why;

    /// <summary>Whether events/&lt;system&gt;/ exists, e.g. "sched".</summary>
    public bool HasSystem(string system) =>
        IsSafeName(system) && Root is { } root && Directory.Exists(Path.Combine(root, "events", system));

    /// <summary>The tracepoint's id, the config value of a PERF_TYPE_TRACEPOINT event.</summary>
    public bool TryGetEventId(string system, string name, out ulong id)
    {
        id = 0;
        string? directory = EventDirectory(system, name);
        if (directory is null)
            return false;
        try
        {
            return ulong.TryParse(File.ReadAllText(Path.Combine(directory, "id")).Trim(),
                NumberStyles.None, CultureInfo.InvariantCulture, out id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Every tracepoint as "system:name", sorted. Empty when tracefs is unavailable.</summary>
    public IEnumerable<string> EventNames()
    {
        if (Root is not { } root)
            return [];
        string events = Path.Combine(root, "events");
        return Directory.EnumerateDirectories(events)
            .SelectMany(system => Directory.EnumerateDirectories(system)
                .Where(eventDir => File.Exists(Path.Combine(eventDir, "id")))
                .Select(eventDir => $"{Path.GetFileName(system)}:{Path.GetFileName(eventDir)}"))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Path of the tracepoint's <c>format</c> file (its record layout), or null if it has none.</summary>
    public string? FormatPath(string system, string name)
    {
        string? directory = EventDirectory(system, name);
        string? path = directory is null ? null : Path.Combine(directory, "format");
        return path is not null && File.Exists(path) ? path : null;
    }

    private string? EventDirectory(string system, string name)
    {
        if (!IsSafeName(system) || !IsSafeName(name) || Root is not { } root)
            return null;
        string directory = Path.Combine(root, "events", system, name);
        return Directory.Exists(directory) ? directory : null;
    }

    // System and event names come from the command line and become path components: keep them to one component.
    private static bool IsSafeName(string name) =>
        name.Length > 0 && name is not ("." or "..") && !name.Contains('/') && !name.Contains('\0');

    private static (string? Root, string? Why) CheckRoot(string root) =>
        Directory.Exists(Path.Combine(root, "events")) ? (root, null) : (null, $"{root} has no events/ directory");

    private static (string? Root, string? Why) LocateSystemTracefs()
    {
        foreach (string candidate in new[] { MountPoint, LegacyMountPoint })
        {
            if (Directory.Exists(Path.Combine(candidate, "events")))
                return (candidate, null);
        }

        // The kernel creates the empty /sys/kernel/tracing directory when it has tracefs at all.
        if (!Directory.Exists(MountPoint))
            return (null, $"tracefs is not mounted and {MountPoint} does not exist (kernel without tracing support?)");

        if (!TracefsMount.TryMount(MountPoint, out string error))
            return (null, $"tracefs is not mounted; {error}");

        return CheckRoot(MountPoint);
    }
}
