using System.Globalization;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// One performance monitoring unit as the kernel describes it under /sys/bus/event_source/devices/&lt;name&gt;:
/// the <c>type</c> number that goes into perf_event_attr.type, the <c>format/</c> terms that say which config bits
/// mean what, the <c>events/</c> aliases (named term lists) and the <c>caps/</c> capability values.
/// Only <see cref="Name"/> and <see cref="Type"/> are read up front; the directories are read on first use.
/// </summary>
public sealed class Pmu
{
    /// <summary>perf's built-in terms that set a whole config word; they work on every PMU.</summary>
    private static readonly IReadOnlyDictionary<string, ConfigField> WholeWordTerms = new Dictionary<string, ConfigField>
    {
        ["config"] = ConfigField.Config,
        ["config1"] = ConfigField.Config1,
        ["config2"] = ConfigField.Config2,
        ["config3"] = ConfigField.Config3,
    };

    /// <summary>events/ files that describe an alias rather than being one (perf skips the same suffixes).</summary>
    private static readonly string[] AliasMetadataSuffixes = [".scale", ".unit", ".snapshot", ".per-pkg"];

    private readonly Lazy<IReadOnlyDictionary<string, FormatTerm>> _format;
    private readonly Lazy<IReadOnlyDictionary<string, string>> _caps;
    private readonly Lazy<IReadOnlyDictionary<string, string>> _events;

    private Pmu(string name, uint type, string directory)
    {
        Name = name;
        Type = type;
        Directory = directory;
        _format = new(() => ReadFormat(Path.Combine(directory, "format")));
        _caps = new(() => ReadTrimmedFiles(Path.Combine(directory, "caps"), _ => true));
        _events = new(() => ReadTrimmedFiles(Path.Combine(directory, "events"), IsAliasFile));
    }

    public string Name { get; }

    /// <summary>perf_event_attr.type for this PMU (the content of its <c>type</c> file).</summary>
    public uint Type { get; }

    /// <summary>The sysfs directory the PMU was read from.</summary>
    public string Directory { get; }

    /// <summary>format/* by term name, sorted by name. Terms whose format this code does not understand are left out.</summary>
    public IReadOnlyDictionary<string, FormatTerm> Format => _format.Value;

    /// <summary>caps/* by file name, values trimmed (e.g. intel_pt's mtc_periods = "249").</summary>
    public IReadOnlyDictionary<string, string> Caps => _caps.Value;

    /// <summary>events/* aliases by name, each its term list (e.g. "event=0x3c,in_tx=1"); *.scale/*.unit etc. skipped.</summary>
    public IReadOnlyDictionary<string, string> Events => _events.Value;

    /// <summary>Reads the PMU in <paramref name="directory"/>, or returns null if it has no readable numeric <c>type</c>.</summary>
    public static Pmu? Load(string directory)
    {
        string? typeText = ReadTrimmed(Path.Combine(directory, "type"));
        if (typeText is null || !uint.TryParse(typeText, NumberStyles.None, CultureInfo.InvariantCulture, out uint type))
            return null;
        return new Pmu(Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), type, directory);
    }

    /// <summary>Any other file of the PMU directory, trimmed, e.g. "max_nonturbo_ratio"; null if absent.</summary>
    public string? ReadAttribute(string relativePath) => ReadTrimmed(Path.Combine(Directory, relativePath));

    /// <summary>
    /// Applies terms to attr.config/config1/config2/config3, in order, later terms overriding earlier ones. A term is a
    /// format term (a missing value means 1, so flags can be written bare), an events/ alias (expanded to its own
    /// terms; takes no value), or one of perf's whole-word terms config, config1, config2, config3.
    /// attr.Type is left alone.
    /// </summary>
    /// <exception cref="EventParseException">An unknown term, or a value too wide for its bits.</exception>
    public void Encode(IEnumerable<(string Term, ulong? Value)> terms, ref PerfEventAttr attr)
    {
        ArgumentNullException.ThrowIfNull(terms);
        foreach (var (term, value) in terms)
            ApplyTerm(term, value, ref attr, aliasAllowed: true);
    }

    public override string ToString() => $"{Name} (type {Type})";

    private void ApplyTerm(string term, ulong? value, ref PerfEventAttr attr, bool aliasAllowed)
    {
        if (Format.TryGetValue(term, out var format))
        {
            try
            {
                format.Encode(value ?? 1, ref attr);
            }
            catch (EventParseException e)
            {
                throw new EventParseException($"{Name} term '{term}': {e.Message}");
            }
            return;
        }

        if (aliasAllowed && Events.TryGetValue(term, out string? aliasTerms))
        {
            if (value is not null)
                throw new EventParseException($"{Name} event '{term}' is an alias for '{aliasTerms}' and takes no value");
            // Aliases are written in terms of format terms; one never names another, so expand one level only.
            foreach (var inner in EventTerms.Parse(aliasTerms))
                ApplyTerm(inner.Term, inner.Value, ref attr, aliasAllowed: false);
            return;
        }

        if (WholeWordTerms.TryGetValue(term, out var field))
        {
            if (value is null)
                throw new EventParseException($"{Name} term '{term}' needs a value ({term}=0x...)");
            SetWord(ref attr, field, value.Value);
            return;
        }

        throw new EventParseException($"{Name} has no term '{term}'{CloseMatches.DidYouMean(term, KnownTerms())} ({DescribeTerms()})");
    }

    private IEnumerable<string> KnownTerms() => Format.Keys.Concat(Events.Keys).Concat(WholeWordTerms.Keys);

    private string DescribeTerms()
    {
        var parts = new List<string>();
        if (Format.Count > 0)
            parts.Add("terms: " + string.Join(", ", Format.Keys));
        if (Events.Count > 0)
            parts.Add("aliases: " + string.Join(", ", Events.Keys));
        parts.Add("also " + string.Join(", ", WholeWordTerms.Keys));
        return string.Join("; ", parts);
    }

    private static void SetWord(ref PerfEventAttr attr, ConfigField field, ulong value)
    {
        switch (field)
        {
            case ConfigField.Config: attr.Config = value; break;
            case ConfigField.Config1: attr.Config1 = value; break;
            case ConfigField.Config2: attr.Config2 = value; break;
            default: attr.Config3 = value; break;
        }
    }

    private static bool IsAliasFile(string name) =>
        !AliasMetadataSuffixes.Any(suffix => name.EndsWith(suffix, StringComparison.Ordinal));

    private static IReadOnlyDictionary<string, FormatTerm> ReadFormat(string directory)
    {
        var terms = new SortedDictionary<string, FormatTerm>(StringComparer.Ordinal);
        foreach (var (name, text) in ReadTrimmedFiles(directory, _ => true))
        {
            try
            {
                terms[name] = FormatTerm.Parse(text);
            }
            catch (FormatException)
            {
                // A newer kernel may describe a term in a way we do not know yet (another config word, say).
                // Leaving that one term out keeps the rest of the PMU usable; using it reports "no term".
            }
        }

        return terms;
    }

    private static IReadOnlyDictionary<string, string> ReadTrimmedFiles(string directory, Func<string, bool> include)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!System.IO.Directory.Exists(directory))
            return files;

        foreach (string path in System.IO.Directory.EnumerateFiles(directory))
        {
            string name = Path.GetFileName(path);
            if (include(name) && ReadTrimmed(path) is { } text)
                files[name] = text;
        }

        return files;
    }

    private static string? ReadTrimmed(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // sysfs files can vanish (PMU driver unloaded) or be root-only; treat both as absent.
            return null;
        }
    }
}
