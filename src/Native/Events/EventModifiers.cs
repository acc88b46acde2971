using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// The letters after an event's last ':' (or after the closing '/' of a PMU event): u, k, h choose the privilege
/// levels to count, p (up to three times) asks for less skid. As in perf, naming any of u/k/h excludes the levels
/// not named: "cycles:u" sets exclude_kernel and exclude_hv, "cycles:uk" only exclude_hv.
/// </summary>
public readonly record struct EventModifiers(bool User, bool Kernel, bool Hypervisor, int Precise)
{
    private const string Letters = "ukhp";

    /// <summary>True when every character is a modifier letter: the test for "is the part after ':' modifiers?".</summary>
    public static bool IsModifierText(string text) => text.Length > 0 && text.All(c => Letters.Contains(c));

    /// <exception cref="EventParseException">Unknown letter, a letter other than p repeated, or more than three p.</exception>
    public static EventModifiers Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
            throw new EventParseException("empty modifier after ':' (allowed: u, k, h, p)");

        bool user = false, kernel = false, hypervisor = false;
        int precise = 0;
        foreach (char c in text)
        {
            switch (c)
            {
                case 'u': user = Once(user, c); break;
                case 'k': kernel = Once(kernel, c); break;
                case 'h': hypervisor = Once(hypervisor, c); break;
                case 'p': precise++; break;
                default:
                    throw new EventParseException($"unknown modifier '{c}' in '{text}' (allowed: u, k, h, p)");
            }
        }

        // precise_ip is a two-bit field; perf rejects more than three p the same way.
        if (precise > 3)
            throw new EventParseException($"modifier '{text}' asks for precise level {precise}; the highest is 3 (ppp)");
        return new EventModifiers(user, kernel, hypervisor, precise);
    }

    /// <summary>Sets exclude_user/kernel/hv (only when a level was named) and precise_ip.</summary>
    public void ApplyTo(ref PerfEventAttr attr)
    {
        if (User || Kernel || Hypervisor)
        {
            Set(ref attr, AttrFlags.ExcludeUser, !User);
            Set(ref attr, AttrFlags.ExcludeKernel, !Kernel);
            Set(ref attr, AttrFlags.ExcludeHv, !Hypervisor);
        }

        attr.PreciseIp = Precise;
    }

    /// <summary>
    /// The modifier letters perf prints for an attr (evsel__add_modifiers): the counted levels in the order k, u, h,
    /// but only if some level is excluded, then one p per precise level. "" when there is nothing to print.
    /// </summary>
    public static string Describe(in PerfEventAttr attr)
    {
        string levels = "";
        if (attr.Has(AttrFlags.ExcludeUser) || attr.Has(AttrFlags.ExcludeKernel) || attr.Has(AttrFlags.ExcludeHv))
        {
            if (!attr.Has(AttrFlags.ExcludeKernel)) levels += "k";
            if (!attr.Has(AttrFlags.ExcludeUser)) levels += "u";
            if (!attr.Has(AttrFlags.ExcludeHv)) levels += "h";
        }

        return levels + new string('p', attr.PreciseIp);
    }

    private static bool Once(bool alreadySeen, char letter) =>
        alreadySeen ? throw new EventParseException($"modifier '{letter}' given twice") : true;

    private static void Set(ref PerfEventAttr attr, AttrFlags flag, bool on) =>
        attr.Flags = on ? attr.Flags | flag : attr.Flags & ~flag;
}
