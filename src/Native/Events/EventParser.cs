using System.Globalization;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// Turns perf's event syntax (<c>-e</c>) into an <see cref="EventSpec"/>:
/// <list type="bullet">
/// <item>named software/hardware events, "cpu-clock", "cs", "cycles" (<see cref="BuiltinEvents"/>);</item>
/// <item>raw hardware events "rNNN" (hex, PERF_TYPE_RAW);</item>
/// <item>tracepoints "system:name", id from tracefs;</item>
/// <item>PMU events "pmu/term=value,flag,alias/", and "pmu//";</item>
/// <item>modifiers after the last ':' or the closing '/': "cpu-clock:u", "intel_pt//u", "cycles:ukpp".</item>
/// </list>
/// A ':' is also the tracepoint separator, so "sched:sched_switch" is tried as a tracepoint first whenever its left
/// part is a tracefs system; otherwise the part after the last ':' must be modifier letters.
/// Errors are <see cref="EventParseException"/>s with a one-line message that names close matches.
/// </summary>
public sealed class EventParser
{
    private readonly PmuCatalog _pmus;
    private readonly Tracefs _tracefs;

    public EventParser(PmuCatalog pmus, Tracefs tracefs)
    {
        ArgumentNullException.ThrowIfNull(pmus);
        ArgumentNullException.ThrowIfNull(tracefs);
        _pmus = pmus;
        _tracefs = tracefs;
    }

    /// <exception cref="EventParseException">The text does not name an event this machine has.</exception>
    public EventSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (trimmed.Length == 0)
            throw new EventParseException("empty event name");

        return trimmed.Contains('/') ? ParsePmuEvent(trimmed) : ParseNamedEvent(trimmed);
    }

    private EventSpec ParseNamedEvent(string text)
    {
        string[] parts = text.Split(':');

        if (parts.Length >= 2 && _tracefs.HasSystem(parts[0]))
            return ParseTracepoint(text, parts);

        if (parts.Length > 2)
            throw new EventParseException($"event '{text}': too many ':' (expected name:modifiers or system:name[:modifiers])");

        string name = parts[0];
        string? modifierText = parts.Length == 2 ? parts[1] : null;

        PerfEventAttr attr = default;
        string canonical;
        if (BuiltinEvents.TryFind(name, out var builtin))
        {
            attr.Type = (uint)builtin.Type;
            attr.Config = builtin.Config;
            canonical = builtin.Name;
        }
        else if (TryParseRaw(name, out ulong rawConfig))
        {
            attr.Type = (uint)PerfType.Raw;
            attr.Config = rawConfig;
            canonical = $"r{rawConfig:x}";
        }
        else
        {
            throw UnknownEvent(text, name, modifierText);
        }

        ApplyModifiers(text, modifierText, ref attr);
        return new EventSpec(WithModifiers(canonical, ":", attr), attr);
    }

    private EventSpec ParseTracepoint(string text, string[] parts)
    {
        string system = parts[0];
        string name = parts[1];
        if (parts.Length > 3)
            throw new EventParseException($"event '{text}': too many ':' (expected system:name[:modifiers])");
        if (name.Contains('*') || name.Contains('?'))
            throw new EventParseException($"event '{text}': tracepoint wildcards are not supported; name one tracepoint");

        if (!_tracefs.TryGetEventId(system, name, out ulong id))
        {
            var sameSystem = _tracefs.EventNames().Where(n => n.StartsWith(system + ":", StringComparison.Ordinal));
            throw new EventParseException(
                $"event '{text}': no tracepoint {system}:{name}{CloseMatches.DidYouMean($"{system}:{name}", sameSystem)}");
        }

        PerfEventAttr attr = default;
        attr.Type = (uint)PerfType.Tracepoint;
        attr.Config = id;
        ApplyModifiers(text, parts.Length == 3 ? parts[2] : null, ref attr);
        return new EventSpec(WithModifiers($"{system}:{name}", ":", attr), attr)
        {
            TracepointSystem = system,
            TracepointName = name,
        };
    }

    private EventSpec ParsePmuEvent(string text)
    {
        int open = text.IndexOf('/');
        int close = text.LastIndexOf('/');
        if (close == open)
            throw new EventParseException($"event '{text}': missing the closing '/' (expected pmu/terms/)");

        string pmuName = text[..open];
        string termText = text[(open + 1)..close];
        string modifierText = text[(close + 1)..];
        // perf accepts both "intel_pt//u" and "intel_pt//:u".
        if (modifierText.StartsWith(':'))
            modifierText = modifierText[1..];

        if (pmuName.Length == 0)
            throw new EventParseException($"event '{text}': no PMU name before '/' (PMUs here: {string.Join(", ", _pmus.Names)})");

        Pmu pmu = _pmus.Find(pmuName) ?? throw UnknownPmu(text, pmuName);

        PerfEventAttr attr = default;
        attr.Type = pmu.Type;
        IReadOnlyList<EventTerms.Item> terms;
        try
        {
            terms = EventTerms.Parse(termText);
            // perf starts intel_pt from its default config; the user's terms then override it bit by bit.
            if (pmu.Name == IntelPtDefaultConfig.PmuName)
                pmu.Encode(IntelPtDefaultConfig.Terms(pmu), ref attr);
            pmu.Encode(terms.Select(t => (t.Term, t.Value)), ref attr);
        }
        catch (EventParseException e)
        {
            throw InEvent(text, e);
        }
        if (pmu.Name == IntelPtDefaultConfig.PmuName)
            IntelPtConfigValidator.Validate(pmu, attr, text);

        ApplyModifiers(text, modifierText.Length == 0 ? null : modifierText, ref attr);

        string canonicalTerms = string.Join(",", terms.Select(t => t.Text));
        return new EventSpec(WithModifiers($"{pmu.Name}/{canonicalTerms}/", "", attr), attr) { PmuName = pmu.Name };
    }

    private EventParseException UnknownPmu(string text, string pmuName)
    {
        // The commonest case by far: asking for Intel PT on an AMD CPU or in a VM that does not pass it through.
        string hint = pmuName == IntelPtDefaultConfig.PmuName ? $"; no Intel PT here: {IntelPtAvailability.WhyMissing()}" : "";
        string present = _pmus.Names.Count == 0 ? "none" : string.Join(", ", _pmus.Names);
        return new EventParseException(
            $"event '{text}': unknown PMU '{pmuName}'{CloseMatches.DidYouMean(pmuName, _pmus.Names)} (PMUs here: {present}){hint}");
    }

    private static void ApplyModifiers(string text, string? modifierText, ref PerfEventAttr attr)
    {
        if (modifierText is null)
            return;
        try
        {
            EventModifiers.Parse(modifierText).ApplyTo(ref attr);
        }
        catch (EventParseException e)
        {
            throw InEvent(text, e);
        }
    }

    /// <summary>Lower layers (terms, modifiers, PMU encoding) do not know the whole event text; add it.</summary>
    private static EventParseException InEvent(string text, EventParseException inner) => new($"event '{text}': {inner.Message}");

    private static string WithModifiers(string name, string separator, in PerfEventAttr attr)
    {
        string letters = EventModifiers.Describe(attr);
        return letters.Length == 0 ? name : name + separator + letters;
    }

    /// <summary>perf's raw syntax: 'r' and 1-16 hex digits, e.g. r1a8 = config 0x1a8.</summary>
    private static bool TryParseRaw(string name, out ulong config)
    {
        config = 0;
        return name.Length is >= 2 and <= 17
            && name[0] == 'r'
            && ulong.TryParse(name.AsSpan(1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out config);
    }

    private EventParseException UnknownEvent(string text, string name, string? modifierText)
    {
        var candidates = BuiltinEvents.Spellings.Concat(_pmus.Names.Select(pmu => pmu + "//"));
        string typed = name;
        if (modifierText is not null && !EventModifiers.IsModifierText(modifierText))
        {
            // Looks like system:name with a system tracefs does not have: compare against the tracepoints.
            typed = text;
            candidates = candidates.Concat(_tracefs.EventNames());
        }

        var suggestions = CloseMatches.Find(typed, candidates).ToList();
        // "sched_switch" alone: the user probably means the tracepoint of that name.
        if (modifierText is null)
            suggestions.AddRange(_tracefs.EventNames().Where(n => n.EndsWith(":" + name, StringComparison.Ordinal)).Take(3));

        string didYouMean = suggestions.Count == 0 ? "" : $" (did you mean {string.Join(", ", suggestions.Distinct())}?)";
        string tracefsNote = _tracefs.UnavailableReason is { } why && text.Contains(':') ? $"; tracepoints unavailable: {why}" : "";
        return new EventParseException($"unknown event '{text}'{didYouMean}{tracefsNote}");
    }
}
