using System.Globalization;

namespace DotnetPtrace.Decoders.Jit;

/// <summary>One line of a perf map: code at [<see cref="Start"/>, <see cref="Start"/> + <see cref="Size"/>) is <see cref="Name"/>.</summary>
public readonly record struct PerfMapEntry(ulong Start, ulong Size, string Name)
{
    public ulong End => Start + Size;
}

/// <summary>
/// Reads /tmp/perf-PID.map, the text symbol file JITs write for perf: one "START SIZE name" per line, START and SIZE
/// in hex with or without 0x (.NET writes "0x7f.. 49 name", Java agents "7f.. 49 name"); the name is the rest of the
/// line and may hold spaces. Lines that do not parse are counted, not fatal: the file may be read while it is written.
/// </summary>
public static class PerfMapReader
{
    public static List<PerfMapEntry> Read(string path, out int badLines)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        return Read(reader, out badLines);
    }

    public static List<PerfMapEntry> Read(TextReader reader, out int badLines)
    {
        var entries = new List<PerfMapEntry>();
        badLines = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            if (TryParse(line, out PerfMapEntry e)) entries.Add(e);
            else badLines++;
        }
        return entries;
    }

    public static bool TryParse(ReadOnlySpan<char> line, out PerfMapEntry entry)
    {
        entry = default;
        int a = line.IndexOf(' ');
        if (a <= 0) return false;
        ReadOnlySpan<char> rest = line[(a + 1)..];
        int b = rest.IndexOf(' ');
        if (b <= 0) return false;
        if (!Hex(line[..a], out ulong start) || !Hex(rest[..b], out ulong size)) return false;
        string name = rest[(b + 1)..].TrimEnd('\r').ToString();
        entry = new PerfMapEntry(start, size, name);
        return true;
    }

    private static bool Hex(ReadOnlySpan<char> text, out ulong value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) text = text[2..];
        return ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
