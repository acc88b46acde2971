using System.Runtime.InteropServices;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>An address range [Start, End) and what is mapped there (an index chosen by the owner).</summary>
internal readonly record struct MappedRange(ulong Start, ulong End, int Dso);

/// <summary>
/// The mappings of one address space as MMAP records describe them: non-overlapping ranges sorted by start,
/// where a new mapping replaces whatever it covers (as mmap over an existing range does). Lookups are a binary
/// search and allocate nothing; inserts are rare (one per mmap) and may.
/// </summary>
internal sealed class AddressSpaceMap
{
    private readonly List<MappedRange> _ranges = [];

    public AddressSpaceMap Clone()
    {
        var copy = new AddressSpaceMap();
        copy._ranges.AddRange(_ranges);
        return copy;
    }

    public bool TryFind(ulong address, out MappedRange range)
    {
        ReadOnlySpan<MappedRange> ranges = CollectionsMarshal.AsSpan(_ranges);
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (address < ranges[mid].Start)
                hi = mid - 1;
            else if (address >= ranges[mid].End)
                lo = mid + 1;
            else
            {
                range = ranges[mid];
                return true;
            }
        }
        range = default;
        return false;
    }

    public void Insert(MappedRange added)
    {
        // First range that ends after the new start: everything before it is untouched.
        int first = 0;
        while (first < _ranges.Count && _ranges[first].End <= added.Start)
            first++;
        int last = first;
        while (last < _ranges.Count && _ranges[last].Start < added.End)
            last++;

        // Ranges [first, last) overlap the new one; keep the parts that stick out on either side.
        MappedRange? left = null, right = null;
        if (first < last)
        {
            MappedRange a = _ranges[first], b = _ranges[last - 1];
            if (a.Start < added.Start)
                left = a with { End = added.Start };
            if (b.End > added.End)
                right = b with { Start = added.End };
            _ranges.RemoveRange(first, last - first);
        }

        int at = first;
        if (left is { } l)
            _ranges.Insert(at++, l);
        _ranges.Insert(at++, added);
        if (right is { } r)
            _ranges.Insert(at, r);
    }
}
