using System.Globalization;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// Where one PMU term lives in perf_event_attr, as a sysfs <c>format/&lt;term&gt;</c> file states it:
/// <c>config:0-7,32-35</c> means "config word, bits 0-7 then 32-35". A value's bits are spread over the listed bits
/// from the lowest bit position to the highest (value bit 0 to config bit 0, value bit 8 to config bit 32, ...),
/// which is what the kernel's format attributes mean and what perf's <c>pmu_format_value</c> does.
/// </summary>
public sealed class FormatTerm
{
    private FormatTerm(ConfigField field, BitRange[] ranges, string text)
    {
        Field = field;
        Ranges = ranges;
        _text = text;
        Width = ranges.Sum(r => r.Width);
        MaxValue = Width == 64 ? ulong.MaxValue : (1UL << Width) - 1;
        foreach (var range in ranges)
        {
            for (int bit = range.Low; bit <= range.High; bit++)
                Mask |= 1UL << bit;
        }
    }

    private readonly string _text;

    public ConfigField Field { get; }

    /// <summary>The bit runs, sorted from low to high and not overlapping.</summary>
    public IReadOnlyList<BitRange> Ranges { get; }

    /// <summary>Total number of bits; the term holds values 0..<see cref="MaxValue"/>.</summary>
    public int Width { get; }

    public ulong MaxValue { get; }

    /// <summary>The config bits this term owns.</summary>
    public ulong Mask { get; }

    /// <summary>Parses the content of a sysfs format file, e.g. "config:24-27", "config1:0-63", "config:0-7,32".</summary>
    /// <exception cref="FormatException">The text is not a format description.</exception>
    public static FormatTerm Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string spec = text.Trim();
        int colon = spec.IndexOf(':');
        if (colon < 0)
            throw Bad(spec, "expected 'config:bits'");

        ConfigField field = spec[..colon] switch
        {
            "config" => ConfigField.Config,
            "config1" => ConfigField.Config1,
            "config2" => ConfigField.Config2,
            "config3" => ConfigField.Config3,
            var other => throw Bad(spec, $"unknown field '{other}'"),
        };

        var ranges = new List<BitRange>();
        foreach (string item in spec[(colon + 1)..].Split(','))
        {
            int dash = item.IndexOf('-');
            int low = ParseBit(spec, dash < 0 ? item : item[..dash]);
            int high = dash < 0 ? low : ParseBit(spec, item[(dash + 1)..]);
            if (high < low)
                throw Bad(spec, $"bit range '{item}' runs backwards");
            ranges.Add(new BitRange(low, high));
        }

        ranges.Sort((a, b) => a.Low.CompareTo(b.Low));
        for (int i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Low <= ranges[i - 1].High)
                throw Bad(spec, $"bit ranges {ranges[i - 1]} and {ranges[i]} overlap");
        }

        return new FormatTerm(field, [.. ranges], spec);
    }

    /// <summary>
    /// Writes <paramref name="value"/> into this term's bits, clearing the bits it leaves at zero, so a later term
    /// overrides an earlier one (how perf treats terms on top of a PMU's default config).
    /// </summary>
    /// <exception cref="EventParseException">The value needs more bits than the term has.</exception>
    public void Encode(ulong value, ref PerfEventAttr attr)
    {
        if (value > MaxValue)
            throw new EventParseException(
                $"value {value} (0x{value:x}) does not fit in {this} ({Width} bit{(Width == 1 ? "" : "s")}, at most {MaxValue})");

        ulong word = Read(attr);
        int valueBit = 0;
        foreach (var range in Ranges)
        {
            for (int bit = range.Low; bit <= range.High; bit++, valueBit++)
            {
                ulong configBit = 1UL << bit;
                word = ((value >> valueBit) & 1) != 0 ? word | configBit : word & ~configBit;
            }
        }

        Write(ref attr, word);
    }

    /// <summary>The inverse of <see cref="Encode"/>: gathers this term's bits back into a value.</summary>
    public ulong Decode(in PerfEventAttr attr)
    {
        ulong word = Read(attr);
        ulong value = 0;
        int valueBit = 0;
        foreach (var range in Ranges)
        {
            for (int bit = range.Low; bit <= range.High; bit++, valueBit++)
                value |= ((word >> bit) & 1) << valueBit;
        }

        return value;
    }

    /// <summary>The sysfs spelling, e.g. "config:14-17".</summary>
    public override string ToString() => _text;

    private ulong Read(in PerfEventAttr attr) => Field switch
    {
        ConfigField.Config => attr.Config,
        ConfigField.Config1 => attr.Config1,
        ConfigField.Config2 => attr.Config2,
        _ => attr.Config3,
    };

    private void Write(ref PerfEventAttr attr, ulong word)
    {
        switch (Field)
        {
            case ConfigField.Config: attr.Config = word; break;
            case ConfigField.Config1: attr.Config1 = word; break;
            case ConfigField.Config2: attr.Config2 = word; break;
            default: attr.Config3 = word; break;
        }
    }

    private static int ParseBit(string spec, string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int bit) || bit > 63)
            throw Bad(spec, $"'{text}' is not a bit number 0-63");
        return bit;
    }

    private static FormatException Bad(string spec, string why) => new($"bad PMU format '{spec}': {why}");
}
