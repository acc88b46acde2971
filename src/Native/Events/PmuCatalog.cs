using System.Collections.Concurrent;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// The PMUs the kernel exposes under a sysfs root (normally /sys/bus/event_source/devices; tests point it at a fake
/// tree). Names are listed on first use and each <see cref="Pmu"/> is read when first asked for, so building a
/// catalog costs nothing on machines with hundreds of uncore PMUs.
/// </summary>
public sealed class PmuCatalog
{
    public const string DefaultRoot = "/sys/bus/event_source/devices";

    private readonly Lazy<IReadOnlyList<string>> _names;
    private readonly ConcurrentDictionary<string, Pmu?> _pmus = new(StringComparer.Ordinal);

    public PmuCatalog(string root = DefaultRoot)
    {
        ArgumentNullException.ThrowIfNull(root);
        Root = root;
        _names = new(ListNames);
    }

    public string Root { get; }

    /// <summary>Names of the PMUs present (directories with a <c>type</c> file), sorted.</summary>
    public IReadOnlyList<string> Names => _names.Value;

    /// <summary>Every PMU, read one at a time as the sequence is walked.</summary>
    public IEnumerable<Pmu> Pmus => Names.Select(Find).OfType<Pmu>();

    /// <summary>The PMU called <paramref name="name"/>, or null if there is none.</summary>
    public Pmu? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        // The name usually comes from the command line; never let it walk out of the root.
        if (name.Length == 0 || name is "." or ".." || name.Contains('/') || name.Contains('\0'))
            return null;
        return _pmus.GetOrAdd(name, n => Pmu.Load(Path.Combine(Root, n)));
    }

    private IReadOnlyList<string> ListNames()
    {
        if (!Directory.Exists(Root))
            return [];

        // The entries are symlinks into /sys/devices; Directory.Exists and File.Exists follow them.
        return Directory.EnumerateFileSystemEntries(Root)
            .Where(path => File.Exists(Path.Combine(path, "type")))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
