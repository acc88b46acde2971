namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>
/// One mapping as MMAP/MMAP2 described it: [<see cref="Start"/>, <see cref="End"/>) holds the file
/// <see cref="Path"/> from <see cref="PgOff"/> on. Only <see cref="Exec"/> mappings hold code, but any mapping
/// replaces what it covers. <see cref="Pid"/> is the process that mapped it (-1: the kernel), for code captured
/// per process; <see cref="BuildId"/> is the one MMAP2 carried (misc MMAP_BUILD_ID), if any.
/// </summary>
public sealed record CodeMapping(ulong Start, ulong End, ulong PgOff, string Path, bool Exec, int Pid, byte[]? BuildId = null)
{
    public ulong Length => End - Start;

    public bool Contains(ulong ip) => ip - Start < End - Start;

    /// <summary>The part [start, end) of this mapping (its file offset moves with the start).</summary>
    public CodeMapping Slice(ulong start, ulong end) => this with { Start = start, End = end, PgOff = PgOff + (start - Start) };

    /// <summary>Names that are no file: [vdso], [kernel.kallsyms]..., //anon, [anon:...], [heap], [stack].</summary>
    public bool IsFile => Path.StartsWith('/') && !Path.StartsWith("//anon", StringComparison.Ordinal);

    public override string ToString() => $"{Path} [{Start:x}, {End:x}) @ 0x{PgOff:x}{(Exec ? "" : " (no exec)")}";
}

/// <summary>
/// The mappings of one address space at one point in time: sorted by start, never overlapping. A new mapping
/// replaces the parts of older ones it covers, as mmap over an existing range does (perf's sideband has no munmap:
/// a mapping only goes away when another replaces it or the process execs).
/// </summary>
public sealed class MappingSet
{
    private readonly List<CodeMapping> _maps = [];

    public IReadOnlyList<CodeMapping> Mappings => _maps;

    public int Count => _maps.Count;

    public MappingSet Clone()
    {
        var copy = new MappingSet();
        copy._maps.AddRange(_maps);
        return copy;
    }

    public void Clear() => _maps.Clear();

    /// <summary>Adds <paramref name="m"/>; true when an executable mapping was added or cut (the code changed).</summary>
    public bool Insert(CodeMapping m)
    {
        if (m.End <= m.Start) return false;
        bool codeChanged = m.Exec;
        int first = FirstEndingAfter(m.Start);
        int last = first;
        while (last < _maps.Count && _maps[last].Start < m.End) last++;
        CodeMapping? left = null, right = null;
        if (first < last)
        {
            CodeMapping a = _maps[first], b = _maps[last - 1];
            if (a.Start < m.Start) left = a.Slice(a.Start, m.Start);
            if (b.End > m.End) right = b.Slice(m.End, b.End);
            for (int i = first; i < last; i++) codeChanged |= _maps[i].Exec;
            _maps.RemoveRange(first, last - first);
        }
        int at = first;
        if (left is not null) _maps.Insert(at++, left);
        _maps.Insert(at++, m);
        if (right is not null) _maps.Insert(at, right);
        return codeChanged;
    }

    /// <summary>True when <paramref name="m"/> covers none of the executable mappings here (adding it only adds code).</summary>
    public bool OnlyAdds(CodeMapping m)
    {
        for (int i = FirstEndingAfter(m.Start); i < _maps.Count && _maps[i].Start < m.End; i++)
            if (_maps[i].Exec) return false;
        return true;
    }

    public CodeMapping? Find(ulong ip)
    {
        int i = FirstEndingAfter(ip);
        return i < _maps.Count && _maps[i].Contains(ip) ? _maps[i] : null;
    }

    /// <summary>The first mapping whose end is after <paramref name="address"/> (binary search).</summary>
    private int FirstEndingAfter(ulong address)
    {
        int lo = 0, hi = _maps.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_maps[mid].End <= address) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
