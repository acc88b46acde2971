using System.Globalization;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// The comma-separated <c>term[=value]</c> lists of perf's event syntax: between the slashes of <c>pmu/.../</c>, and
/// in sysfs <c>events/&lt;alias&gt;</c> files. Values are decimal or 0x-prefixed hex, as perf accepts them.
/// </summary>
internal static class EventTerms
{
    /// <summary>One term as written: name, value (null for a bare flag) and the trimmed text it came from.</summary>
    public sealed record Item(string Term, ulong? Value, string Text);

    /// <summary>Splits "event=0x3c,umask=1,edge" into terms; a bare name has no value.</summary>
    /// <exception cref="EventParseException">An empty item, an empty name, or a value that is not a number.</exception>
    public static IReadOnlyList<Item> Parse(string text)
    {
        var terms = new List<Item>();
        if (text.Trim().Length == 0)
            return terms;

        foreach (string rawItem in text.Split(','))
        {
            string item = rawItem.Trim();
            if (item.Length == 0)
                throw new EventParseException($"empty term in '{text}'");

            int equals = item.IndexOf('=');
            if (equals < 0)
            {
                terms.Add(new Item(item, null, item));
                continue;
            }

            string name = item[..equals].Trim();
            string valueText = item[(equals + 1)..].Trim();
            if (name.Length == 0)
                throw new EventParseException($"term '{item}' has no name");
            if (!TryParseNumber(valueText, out ulong value))
                throw new EventParseException($"value '{valueText}' of term '{name}' is not a number (decimal or 0x hex)");
            terms.Add(new Item(name, value, $"{name}={valueText}"));
        }

        return terms;
    }

    /// <summary>Decimal, or hex with a 0x prefix; 64-bit unsigned.</summary>
    public static bool TryParseNumber(string text, out ulong value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
