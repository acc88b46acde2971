using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>
/// The small text conventions perf's header printer relies on (facts from tools/perf/util and tools/lib): CPU lists
/// ("0-3,8"), bitmaps, sizes with a unit letter, and "sec.usec" timestamps.
/// </summary>
public static class PerfText
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// A CPU list as perf_cpu_map__new reads it: numbers (strtoul base 0) and ranges joined by commas, sorted and
    /// deduplicated; an empty list is the "any CPU" map {-1}. Null when perf would reject it (a repeated CPU, a
    /// range that runs backwards, other characters).
    /// </summary>
    public static List<int>? ParseCpuList(string list)
    {
        var cpus = new List<int>();
        var seen = new HashSet<int>();
        int i = 0;
        if (list.Length == 0) return [-1];
        while (i < list.Length && char.IsAsciiDigit(list[i]))
        {
            if (!TryNumber(list, ref i, out long start)) return null;
            long end = start;
            if (i < list.Length && list[i] == '-')
            {
                i++;
                if (!TryNumber(list, ref i, out end) || end < start) return null;
            }
            if (i < list.Length && list[i] != ',') return null;
            if (end - start > 1 << 20) return null;   // perf would try to allocate it; no real machine has that many
            for (long c = start; c <= end; c++)
            {
                if (!seen.Add((int)c)) return null;
                cpus.Add((int)c);
            }
            if (i < list.Length) i++;   // the comma
        }
        if (i != list.Length || cpus.Count == 0) return null;
        cpus.Sort();
        return cpus;
    }

    /// <summary>strtoul(s, &amp;end, 0) limited to what perf accepts (below INT_MAX).</summary>
    private static bool TryNumber(string s, ref int i, out long value)
    {
        value = 0;
        int numberBase = 10;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.Length && char.IsAsciiHexDigit(s[i + 2])) { numberBase = 16; i += 2; }
        else if (i < s.Length && s[i] == '0') numberBase = 8;
        int start = i;
        while (i < s.Length)
        {
            int d = char.IsAsciiDigit(s[i]) ? s[i] - '0' : char.IsAsciiHexDigit(s[i]) ? char.ToLowerInvariant(s[i]) - 'a' + 10 : 99;
            if (d >= numberBase) break;
            value = value * numberBase + d;
            if (value >= int.MaxValue) return false;
            i++;
        }
        return i > start;
    }

    /// <summary>A sorted CPU list as cpu_map__snprint prints it: runs of consecutive CPUs as "a-b", joined by commas.</summary>
    public static string FormatCpuList(IReadOnlyList<int> cpus)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < cpus.Count;)
        {
            int j = i;
            while (j + 1 < cpus.Count && cpus[j + 1] - cpus[i] == j + 1 - i) j++;
            if (sb.Length > 0) sb.Append(',');
            sb.Append(Inv, $"{cpus[i]}");
            if (j > i) sb.Append(Inv, $"-{cpus[j]}");
            i = j + 1;
        }
        return sb.ToString();
    }

    /// <summary>
    /// The set bits of a bitmap as bitmap_scnprintf prints them ("0-23,32-199"), cut to <paramref name="maxChars"/>
    /// as its fixed buffer does (perf prints memory nodes through a 100-byte buffer: 99 characters).
    /// </summary>
    public static string FormatBitmap(ReadOnlySpan<ulong> words, ulong bitCount, int maxChars)
    {
        var sb = new StringBuilder();
        long runStart = -1, previous = -2;
        for (ulong bit = 0; bit < bitCount && bit / 64 < (ulong)words.Length; bit++)
        {
            if ((words[(int)(bit / 64)] >> (int)(bit % 64) & 1) == 0) continue;
            if ((long)bit != previous + 1)
            {
                AppendRun(sb, runStart, previous);
                runStart = (long)bit;
            }
            previous = (long)bit;
        }
        AppendRun(sb, runStart, previous);
        return sb.Length > maxChars ? sb.ToString(0, maxChars) : sb.ToString();
    }

    private static void AppendRun(StringBuilder sb, long first, long last)
    {
        if (first < 0) return;
        if (sb.Length > 0) sb.Append(',');
        sb.Append(Inv, $"{first}");
        if (last > first) sb.Append(Inv, $"-{last}");
    }

    /// <summary>Set bits below <paramref name="bitCount"/> (bitmap_weight).</summary>
    public static ulong BitCount(ReadOnlySpan<ulong> words, ulong bitCount)
    {
        ulong n = 0;
        for (int w = 0; w < words.Length && (ulong)w * 64 < bitCount; w++)
        {
            ulong bitsHere = Math.Min(64, bitCount - (ulong)w * 64);
            ulong mask = bitsHere == 64 ? ulong.MaxValue : (1UL << (int)bitsHere) - 1;
            n += (ulong)System.Numerics.BitOperations.PopCount(words[w] & mask);
        }
        return n;
    }

    /// <summary>unit_number__scnprintf: divide by 1024 while the quotient stays above 1, up to G ("24G", "512M").</summary>
    public static string UnitNumber(ulong n)
    {
        const string units = "BKMG";
        int i = 0;
        while (n / 1024 > 1 && i < 3)
        {
            n /= 1024;
            i++;
        }
        return string.Create(Inv, $"{n}{units[i]}");
    }

    /// <summary>timestamp__scnprintf_usec: nanoseconds as "seconds.microseconds".</summary>
    public static string SecondsDotMicros(ulong ns) => string.Create(Inv, $"{ns / 1_000_000_000}.{ns % 1_000_000_000 / 1000:D6}");
}
