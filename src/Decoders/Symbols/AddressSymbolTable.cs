using System.Globalization;

namespace DotnetPtrace.Decoders.Symbols;

/// <summary>
/// Symbols given by absolute address: /tmp/perf-PID.map (JIT code: .NET with DOTNET_PerfMapEnabled=1, Java, Node;
/// lines "START SIZE name" in hex) and /proc/kallsyms ("ADDR type name [module]"). Sorted once, searched by address.
/// </summary>
public sealed class AddressSymbolTable
{
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;

    private AddressSymbolTable(List<(ulong Start, ulong End, string Name)> entries)
    {
        entries = RemoveDuplicates(entries);
        _starts = entries.Select(e => e.Start).ToArray();
        _ends = entries.Select(e => e.End).ToArray();
        _names = entries.Select(e => e.Name).ToArray();
    }

    public int Count => _names.Length;

    public static AddressSymbolTable? TryLoadPerfMap(string path)
    {
        var entries = new List<(ulong, ulong, string)>();
        try
        {
            if (!File.Exists(path)) return null;
            foreach (string line in File.ReadLines(path))
            {
                int a = line.IndexOf(' '), b = a < 0 ? -1 : line.IndexOf(' ', a + 1);
                if (b < 0) continue;
                if (!ulong.TryParse(line.AsSpan(0, a).TrimStart("0x"), NumberStyles.HexNumber, null, out ulong start)) continue;
                if (!ulong.TryParse(line.AsSpan(a + 1, b - a - 1).TrimStart("0x"), NumberStyles.HexNumber, null, out ulong size)) continue;
                entries.Add((start, start + Math.Max(size, 1), line[(b + 1)..]));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return new AddressSymbolTable(entries);
    }

    /// <summary>Kernel symbols; null when kallsyms is unreadable or hides addresses (kptr_restrict shows zeros).</summary>
    public static AddressSymbolTable? TryLoadKallsyms(string path = "/proc/kallsyms")
    {
        var starts = new List<(ulong Start, string Name)>();
        try
        {
            foreach (string line in File.ReadLines(path))
            {
                string[] parts = line.Split(' ', 4);
                if (parts.Length < 3 || parts[1].Length != 1 || "tTwW".IndexOf(parts[1][0]) < 0) continue;
                if (!ulong.TryParse(parts[0], NumberStyles.HexNumber, null, out ulong addr) || addr == 0) continue;
                string name = parts[2].Split('\t')[0];
                starts.Add((addr, name));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (starts.Count == 0) return null;
        // kallsyms has no sizes: a symbol runs to the next one, as perf assumes. Aliases share an address
        // (memcpy, __memcpy, __pi_memcpy): perf sizes them first, so only the last listed gets a non-zero length,
        // and its duplicate fixup then keeps that one. A stable sort keeps the file's order among aliases.
        var sorted = starts.OrderBy(s => s.Start).ToList();
        var unique = new List<(ulong Start, string Name)>(sorted.Count);
        foreach (var s in sorted)
        {
            if (unique.Count > 0 && unique[^1].Start == s.Start) unique[^1] = s;
            else unique.Add(s);
        }
        var entries = new List<(ulong, ulong, string)>(unique.Count);
        for (int i = 0; i < unique.Count; i++)
            entries.Add((unique[i].Start, i + 1 < unique.Count ? unique[i + 1].Start : unique[i].Start + 4096, unique[i].Name));
        return new AddressSymbolTable(entries);
    }

    /// <summary>
    /// Perf maps repeat addresses (stubs are reused). Like perf (symbols__fixup_duplicate, choose_best_symbol), one
    /// entry per start address survives: fewer leading underscores, then the longer name, else the first listed.
    /// </summary>
    private static List<(ulong Start, ulong End, string Name)> RemoveDuplicates(List<(ulong Start, ulong End, string Name)> entries)
    {
        var kept = new List<(ulong Start, ulong End, string Name)>(entries.Count);
        foreach (var e in entries.OrderBy(e => e.Start))   // stable: file order among equals
        {
            if (kept.Count == 0 || kept[^1].Start != e.Start) { kept.Add(e); continue; }
            var a = kept[^1];
            int ua = a.Name.Length - a.Name.TrimStart('_').Length, ub = e.Name.Length - e.Name.TrimStart('_').Length;
            bool keepFirst = ua != ub ? ua < ub : a.Name.Length >= e.Name.Length;
            if (!keepFirst) kept[^1] = e;
        }
        return kept;
    }

    public bool TryFind(ulong address, out string name, out ulong offset)
    {
        name = "";
        offset = 0;
        int i = Array.BinarySearch(_starts, address);
        if (i < 0) i = ~i - 1;
        if (i < 0 || address >= _ends[i]) return false;
        name = _names[i];
        offset = address - _starts[i];
        return true;
    }
}
