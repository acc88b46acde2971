using System.Collections;
using System.Globalization;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// A set of CPU numbers in the kernel's and perf's list syntax, "0-3,7" (the form of <c>-C</c> and of
/// /sys/devices/system/cpu/online). Holds the CPUs sorted and without duplicates; <see cref="ToString"/> gives the
/// compact form back.
/// </summary>
public sealed class CpuList : IReadOnlyList<int>
{
    /// <summary>
    /// Far above any kernel's NR_CPUS (8192 at most, x86 MAXSMP), and small enough that a typo such as "0-99999999"
    /// is an error instead of a hundred-megabyte list.
    /// </summary>
    public const int MaxCpu = 65535;

    private readonly int[] _cpus;

    private CpuList(int[] sortedDistinct) => _cpus = sortedDistinct;

    public int Count => _cpus.Length;

    public int this[int index] => _cpus[index];

    /// <exception cref="CpuListException">Empty, not numbers, a backwards range, or a CPU above <see cref="MaxCpu"/>.</exception>
    public static CpuList Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string list = text.Trim();
        if (list.Length == 0)
            throw new CpuListException("empty CPU list (expected e.g. 0-3,7)");

        var cpus = new SortedSet<int>();
        foreach (string rawItem in list.Split(','))
        {
            string item = rawItem.Trim();
            int dash = item.IndexOf('-');
            int first = ParseCpu(list, item, dash < 0 ? item : item[..dash]);
            int last = dash < 0 ? first : ParseCpu(list, item, item[(dash + 1)..]);
            if (last < first)
                throw new CpuListException($"CPU range '{item}' in CPU list '{list}' runs backwards");
            for (int cpu = first; cpu <= last; cpu++)
                cpus.Add(cpu);
        }

        return new CpuList([.. cpus]);
    }

    /// <summary>The CPUs the kernel has online, from &lt;sysRoot&gt;/devices/system/cpu/online.</summary>
    /// <exception cref="CpuListException">The file cannot be read or parsed.</exception>
    public static CpuList Online(string sysRoot = "/sys")
    {
        string path = Path.Combine(sysRoot, "devices", "system", "cpu", "online");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CpuListException($"cannot read the online CPUs from {path}: {e.Message}");
        }

        return Parse(text);
    }

    /// <summary>Fails, naming them, if any of these CPUs is not in <paramref name="online"/>.</summary>
    /// <exception cref="CpuListException">"CPU 99 is not online (online: 0-1)".</exception>
    public void ValidateAgainst(CpuList online)
    {
        ArgumentNullException.ThrowIfNull(online);
        int[] missing = _cpus.Where(cpu => !online.Contains(cpu)).ToArray();
        if (missing.Length == 0)
            return;

        string what = missing.Length == 1 ? $"CPU {missing[0]} is" : $"CPUs {Describe(missing)} are";
        throw new CpuListException($"{what} not online (online: {online})");
    }

    public bool Contains(int cpu) => Array.BinarySearch(_cpus, cpu) >= 0;

    /// <summary>The compact list form, runs folded: "0-3,7".</summary>
    public override string ToString() => Describe(_cpus);

    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_cpus).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static string Describe(int[] sorted)
    {
        var parts = new List<string>();
        for (int i = 0; i < sorted.Length;)
        {
            int start = i;
            while (i + 1 < sorted.Length && sorted[i + 1] == sorted[i] + 1)
                i++;
            parts.Add(i == start ? $"{sorted[start]}" : $"{sorted[start]}-{sorted[i]}");
            i++;
        }

        return string.Join(",", parts);
    }

    private static int ParseCpu(string list, string item, string text)
    {
        // Parsed as 64-bit so that "99999999999" is reported as too large, not as "not a number".
        if (!long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long cpu))
            throw new CpuListException($"'{item}' in CPU list '{list}' is not a CPU number or range (expected e.g. 0-3,7)");
        if (cpu > MaxCpu)
            throw new CpuListException($"CPU {cpu} in CPU list '{list}' is above {MaxCpu}");
        return (int)cpu;
    }
}
