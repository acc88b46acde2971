namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// A piece of memory the traced code ran from: bytes loaded at a virtual address, optionally only for one address
/// space (CR3). Sections never change their bytes; each keeps the decoded-block cache for its code.
/// </summary>
public sealed class PtSection
{
    private readonly byte[] _data;
    private readonly int _offset;
    private PtBlockCache? _cache;

    public PtSection(string name, ulong start, byte[] data, int offset, int length, ulong? cr3 = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if ((uint)offset > (uint)data.Length || (uint)length > (uint)(data.Length - offset))
            throw new ArgumentOutOfRangeException(nameof(length), $"{name}: {offset}+{length} is outside its {data.Length} bytes");
        if (length == 0) throw new ArgumentException($"{name}: empty section", nameof(length));
        if (start + (ulong)length < start) throw new ArgumentOutOfRangeException(nameof(start), $"{name}: wraps the address space");
        Name = name;
        Start = start;
        _data = data;
        _offset = offset;
        Length = length;
        Cr3 = cr3;
    }

    public string Name { get; }
    public ulong Start { get; }
    /// <summary>One past the last address.</summary>
    public ulong End => Start + (ulong)Length;
    public int Length { get; }
    /// <summary>The address space this section belongs to; null for all.</summary>
    public ulong? Cr3 { get; }

    public ReadOnlySpan<byte> Bytes => new(_data, _offset, Length);

    internal byte[] Data => _data;
    internal int DataOffset => _offset;

    public bool Contains(ulong ip) => ip - Start < (ulong)Length;

    /// <summary>The part of this section from <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive).</summary>
    internal PtSection Slice(ulong start, ulong end) =>
        new(Name, start, _data, _offset + (int)(start - Start), (int)(end - start), Cr3);

    internal PtBlockCache Cache => _cache ??= new PtBlockCache(this);

    public override string ToString() => $"{Name} [{Start:x}, {End:x})";
}

/// <summary>
/// The memory image a trace is decoded against: sections by address (and address space). A section added over
/// others replaces the overlapped parts, as libipt's pt_image_add does. Reads never allocate; a read of unmapped
/// memory reports <see cref="PtFlowError.NoMap"/> rather than throwing.
/// </summary>
public sealed class PtImage
{
    // Sections without CR3, sorted by start, not overlapping.
    private readonly List<PtSection> _sections = [];
    private readonly Dictionary<ulong, List<PtSection>> _byCr3 = [];
    private PtSection? _last;
    private int _version;

    public IReadOnlyList<PtSection> Sections => _sections;

    /// <summary>Bumped on every change, so decoders can drop what they remembered about the old image.</summary>
    public int Version => _version;

    public int Count => _sections.Count + _byCr3.Values.Sum(l => l.Count);

    /// <summary>Some sections belong to one address space only.</summary>
    public bool HasAddressSpaces => _byCr3.Count > 0;

    public void Add(PtSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        List<PtSection> list = section.Cr3 is ulong cr3 ? (_byCr3.TryGetValue(cr3, out var l) ? l : _byCr3[cr3] = []) : _sections;
        // Cut the overlapped parts out of existing sections.
        for (int i = 0; i < list.Count; i++)
        {
            PtSection s = list[i];
            if (s.End <= section.Start || s.Start >= section.End) continue;
            list.RemoveAt(i);
            int insert = i;
            if (s.Start < section.Start) list.Insert(insert++, s.Slice(s.Start, section.Start));
            if (s.End > section.End) list.Insert(insert++, s.Slice(section.End, s.End));
            i = insert - 1;
        }
        int at = list.BinarySearch(section, StartComparer.Instance);
        list.Insert(at < 0 ? ~at : at, section);
        _last = null;
        _version++;
    }

    /// <summary>Removes every section (of every address space) named <paramref name="name"/>.</summary>
    public int RemoveByName(string name)
    {
        int n = _sections.RemoveAll(s => s.Name == name);
        foreach (var l in _byCr3.Values) n += l.RemoveAll(s => s.Name == name);
        _last = null;
        _version++;
        return n;
    }

    /// <summary>The section holding <paramref name="ip"/> in address space <paramref name="cr3"/> (or any), or null.</summary>
    public PtSection? Find(ulong ip, ulong cr3 = NoCr3)
    {
        PtSection? last = _last;
        if (last != null && last.Contains(ip) && (last.Cr3 == null || last.Cr3 == cr3)) return last;
        PtSection? s = null;
        if (cr3 != NoCr3 && _byCr3.Count > 0 && _byCr3.TryGetValue(cr3, out var list)) s = Search(list, ip);
        s ??= Search(_sections, ip);
        if (s != null) _last = s;
        return s;
    }

    /// <summary>Means "no address space known".</summary>
    public const ulong NoCr3 = ulong.MaxValue;

    private static PtSection? Search(List<PtSection> list, ulong ip)
    {
        int lo = 0, hi = list.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            PtSection s = list[mid];
            if (ip < s.Start) hi = mid - 1;
            else if (ip >= s.End) lo = mid + 1;
            else return s;
        }
        return null;
    }

    /// <summary>
    /// Copies up to <paramref name="dest"/>.Length bytes from <paramref name="ip"/> on, across adjacent sections;
    /// returns the number copied, 0 when nothing is mapped at <paramref name="ip"/>.
    /// </summary>
    public int Read(ulong ip, Span<byte> dest, ulong cr3 = NoCr3)
    {
        int n = 0;
        while (n < dest.Length)
        {
            PtSection? s = Find(ip + (ulong)n, cr3);
            if (s == null) break;
            int from = (int)(ip + (ulong)n - s.Start);
            int take = Math.Min(dest.Length - n, s.Length - from);
            s.Bytes.Slice(from, take).CopyTo(dest[n..]);
            n += take;
        }
        return n;
    }

    private sealed class StartComparer : IComparer<PtSection>
    {
        public static readonly StartComparer Instance = new();
        public int Compare(PtSection? x, PtSection? y) => x!.Start.CompareTo(y!.Start);
    }
}
