using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Finds the binaries that samples ran in, so the BUILD_ID feature can name them as perf record does
/// (perf marks a DSO "hit" when a sample resolves into it and writes build-ids for hit DSOs only).
/// It follows MMAP/MMAP2 (and FORK, which copies the parent's mappings) per process, and for each SAMPLE looks up
/// the mapping that holds the sample's IP: user IPs in the sample's process, kernel IPs in the kernel's mappings
/// (modules) or else <c>[kernel.kallsyms]</c>. Per-sample work allocates nothing: a binary search over a sorted
/// array of ranges, after a check of the last range hit.
/// <para>Runs on the writer thread; call <see cref="Collect"/> after the writer drained.</para>
/// </summary>
public sealed class BuildIdCollector : IRecordObserver
{
    /// <summary>The name perf gives the kernel image in BUILD_ID and in its kernel MMAP ("[kernel.kallsyms]_text").</summary>
    public const string KernelDsoName = "[kernel.kallsyms]";

    /// <summary>Key of the kernel's mappings (perf synthesises them with pid -1, HOST_KERNEL_ID).</summary>
    private const int KernelPid = -1;

    private readonly Dictionary<ulong, SampleLayout> _layoutById = [];
    private readonly SampleLayout _defaultLayout;
    /// <summary>Offset of the event id in a sample, or -1 when the attr does not matter (or cannot be known).</summary>
    private readonly int _idOffset;

    private readonly Dictionary<int, AddressSpaceMap> _mapsByPid = [];
    private readonly List<Dso> _dsos = [];
    private readonly Dictionary<string, int> _dsoByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _dsoByNameSpan;
    private bool _kernelHit;

    // Cache of the last lookup: consecutive samples mostly hit the same range of the same process.
    private bool _haveLastRange;
    private int _lastPid;
    private MappedRange _lastRange;

    public BuildIdCollector(IReadOnlyList<EventAttrEntry> attrs)
    {
        ArgumentNullException.ThrowIfNull(attrs);
        if (attrs.Count == 0)
            throw new ArgumentException("At least one attr is needed to parse samples.", nameof(attrs));
        _dsoByNameSpan = _dsoByName.GetAlternateLookup<ReadOnlySpan<char>>();
        _defaultLayout = SampleLayout.For(attrs[0].Attr.SampleType);
        bool allAlike = true;
        foreach (EventAttrEntry entry in attrs)
        {
            var layout = SampleLayout.For(entry.Attr.SampleType);
            allAlike &= layout == _defaultLayout;
            foreach (ulong id in entry.Ids)
                _layoutById[id] = layout;
        }
        // When every attr puts IP and TID at the same place, which event a sample belongs to does not matter.
        _idOffset = allAlike ? -1 : SampleLayout.IdOffset(attrs[0].Attr.SampleType);
    }

    public long Samples { get; private set; }
    /// <summary>Samples whose IP was found in a mapping (or in the kernel).</summary>
    public long ResolvedSamples { get; private set; }

    public void OnRecord(in PerfEventHeader header, ReadOnlySpan<byte> record)
    {
        switch (header.Type)
        {
            case PerfRecordType.Sample:
                OnSample(header, record);
                break;
            case PerfRecordType.Mmap:
                OnMmap(header, record, isMmap2: false);
                break;
            case PerfRecordType.Mmap2:
                OnMmap(header, record, isMmap2: true);
                break;
            case PerfRecordType.Fork:
                OnFork(record);
                break;
        }
    }

    /// <summary>
    /// BUILD_ID entries for every hit binary whose build-id is known: from MMAP2 (when the kernel put it in the
    /// record), else from <paramref name="readBuildId"/> (given the mapped file name; return null when unknown),
    /// and <paramref name="kernelBuildId"/> (from /sys/kernel/notes) for <c>[kernel.kallsyms]</c>.
    /// </summary>
    public IReadOnlyList<BuildIdEntry> Collect(Func<string, byte[]?> readBuildId, byte[]? kernelBuildId)
    {
        ArgumentNullException.ThrowIfNull(readBuildId);
        var entries = new List<BuildIdEntry>();
        if (KernelHit && kernelBuildId is { Length: > 0 and <= BuildIdEntry.MaxBuildIdSize })
            entries.Add(new BuildIdEntry(BuildIdEntry.HostPid, PerfRecordMisc.Kernel, kernelBuildId, KernelDsoName));

        foreach (Dso dso in _dsos)
        {
            if (!dso.Hit || dso.Name == KernelDsoName)
                continue;
            byte[]? buildId = dso.InlineBuildId ?? readBuildId(dso.Name);
            if (buildId is not { Length: > 0 and <= BuildIdEntry.MaxBuildIdSize })
                continue;
            ushort cpuMode = dso.IsKernel ? PerfRecordMisc.Kernel : PerfRecordMisc.User;
            entries.Add(new BuildIdEntry(BuildIdEntry.HostPid, cpuMode, buildId, dso.Name));
        }
        return entries;
    }

    /// <summary>Names of the binaries samples hit so far (diagnostics and tests).</summary>
    public IReadOnlyList<string> HitDsoNames()
    {
        var names = new List<string>();
        if (KernelHit)
            names.Add(KernelDsoName);
        foreach (Dso dso in _dsos)
        {
            if (dso.Hit && dso.Name != KernelDsoName)
                names.Add(dso.Name);
        }
        return names;
    }

    /// <summary>A kernel sample outside every module, or inside the kernel's own "[kernel.kallsyms]_text" map.</summary>
    private bool KernelHit => _kernelHit || (_dsoByName.TryGetValue(KernelDsoName, out int index) && _dsos[index].Hit);

    private void OnSample(in PerfEventHeader header, ReadOnlySpan<byte> record)
    {
        Samples++;
        SampleLayout layout = _defaultLayout;
        if (_idOffset >= 0)
        {
            if (record.Length < _idOffset + 8 || !_layoutById.TryGetValue(BinaryPrimitives.ReadUInt64LittleEndian(record[_idOffset..]), out layout))
                return;
        }
        if (layout.IpOffset < 0 || record.Length < layout.IpOffset + 8)
            return;
        ulong ip = BinaryPrimitives.ReadUInt64LittleEndian(record[layout.IpOffset..]);

        switch (header.CpuMode)
        {
            case PerfRecordMisc.Kernel:
                if (!MarkHit(KernelPid, ip))
                    _kernelHit = true;  // no module mapping holds it: the kernel image itself
                ResolvedSamples++;
                break;
            case PerfRecordMisc.User:
                if (layout.TidOffset < 0 || record.Length < layout.TidOffset + 8)
                    return;
                int pid = BinaryPrimitives.ReadInt32LittleEndian(record[layout.TidOffset..]);
                if (MarkHit(pid, ip))
                    ResolvedSamples++;
                break;
            // Guest and hypervisor samples belong to other machines; perf keeps them apart and so do we.
        }
    }

    /// <summary>Marks the DSO mapped at <paramref name="ip"/> in <paramref name="pid"/> as hit; false if none.</summary>
    private bool MarkHit(int pid, ulong ip)
    {
        if (_haveLastRange && pid == _lastPid && ip >= _lastRange.Start && ip < _lastRange.End)
            return true;  // same range as last time: its DSO is already marked
        if (!_mapsByPid.TryGetValue(pid, out AddressSpaceMap? maps) || !maps.TryFind(ip, out MappedRange range))
            return false;
        _dsos[range.Dso].Hit = true;
        _haveLastRange = true;
        _lastPid = pid;
        _lastRange = range;
        return true;
    }

    /// <summary>
    /// MMAP: u32 pid, tid; u64 addr, len, pgoff; char filename[].
    /// MMAP2: the same, then {u32 maj, min; u64 ino, ino_generation} or (misc bit 14) {u8 build_id_size; u8, u16
    /// reserved; u8 build_id[20]}, then u32 prot, flags; char filename[].
    /// </summary>
    private void OnMmap(in PerfEventHeader header, ReadOnlySpan<byte> record, bool isMmap2)
    {
        int nameOffset = isMmap2 ? 72 : 40;
        if (record.Length <= nameOffset)
            return;
        if ((header.Misc & PerfRecordMisc.MmapData) != 0)
            return;  // a data mapping: instruction pointers never land there

        int pid = BinaryPrimitives.ReadInt32LittleEndian(record[8..]);
        ulong start = BinaryPrimitives.ReadUInt64LittleEndian(record[16..]);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(record[24..]);
        if (length == 0 || start + length < start)
            return;

        ReadOnlySpan<byte> name = record[nameOffset..];
        int nul = name.IndexOf((byte)0);
        if (nul >= 0)
            name = name[..nul];
        if (name.IsEmpty)
            return;

        bool isKernel = header.CpuMode == PerfRecordMisc.Kernel || pid == KernelPid;
        if (isKernel && name.StartsWith("[kernel.kallsyms]"u8))
            name = "[kernel.kallsyms]"u8;  // perf's kernel map is named "[kernel.kallsyms]_text"
        int dso = FindOrAddDso(name, isKernel);

        if (isMmap2 && (header.Misc & PerfRecordMisc.MmapBuildId) != 0 && _dsos[dso].InlineBuildId is null)
        {
            int size = record[40];
            if (size is > 0 and <= BuildIdEntry.MaxBuildIdSize)
                _dsos[dso].InlineBuildId = record.Slice(44, size).ToArray();
        }

        int key = isKernel ? KernelPid : pid;
        if (!_mapsByPid.TryGetValue(key, out AddressSpaceMap? maps))
            _mapsByPid[key] = maps = new AddressSpaceMap();
        maps.Insert(new MappedRange(start, start + length, dso));
        _haveLastRange = false;  // the ranges moved
    }

    /// <summary>FORK: u32 pid, ppid, tid, ptid; a new process (pid != ppid) starts with its parent's mappings.</summary>
    private void OnFork(ReadOnlySpan<byte> record)
    {
        if (record.Length < 24)
            return;
        int pid = BinaryPrimitives.ReadInt32LittleEndian(record[8..]);
        int ppid = BinaryPrimitives.ReadInt32LittleEndian(record[12..]);
        if (pid == ppid || !_mapsByPid.TryGetValue(ppid, out AddressSpaceMap? parent))
            return;
        _mapsByPid[pid] = parent.Clone();
        _haveLastRange = false;
    }

    private int FindOrAddDso(ReadOnlySpan<byte> utf8Name, bool isKernel)
    {
        // Decode on the stack and look up by span: mapping the same library again allocates nothing.
        int maxChars = Encoding.UTF8.GetMaxCharCount(utf8Name.Length);
        Span<char> chars = maxChars <= 1024 ? stackalloc char[1024] : new char[maxChars];
        int count = Encoding.UTF8.GetChars(utf8Name, chars);
        ReadOnlySpan<char> name = chars[..count];
        if (_dsoByNameSpan.TryGetValue(name, out int index))
            return index;

        var dso = new Dso(name.ToString(), isKernel);
        _dsos.Add(dso);
        _dsoByName[dso.Name] = _dsos.Count - 1;
        return _dsos.Count - 1;
    }

    /// <summary>Where IP and TID sit in a PERF_RECORD_SAMPLE: they follow IDENTIFIER, in the kernel's order.</summary>
    private readonly record struct SampleLayout(int IpOffset, int TidOffset)
    {
        public static SampleLayout For(SampleType type)
        {
            int offset = PerfEventHeader.ByteSize;
            if ((type & SampleType.Identifier) != 0)
                offset += 8;
            int ip = -1;
            if ((type & SampleType.Ip) != 0)
            {
                ip = offset;
                offset += 8;
            }
            int tid = (type & SampleType.Tid) != 0 ? offset : -1;
            return new SampleLayout(ip, tid);
        }

        /// <summary>
        /// Where a sample says which event it belongs to: IDENTIFIER (first) if set, else ID after IP, TID, TIME and
        /// ADDR. perf requires every attr of a file to agree on this position, so the first attr decides.
        /// </summary>
        public static int IdOffset(SampleType type)
        {
            int offset = PerfEventHeader.ByteSize;
            if ((type & SampleType.Identifier) != 0)
                return offset;
            if ((type & SampleType.Id) == 0)
                return -1;
            foreach (SampleType before in (ReadOnlySpan<SampleType>)[SampleType.Ip, SampleType.Tid, SampleType.Time, SampleType.Addr])
            {
                if ((type & before) != 0)
                    offset += 8;
            }
            return offset;
        }
    }

    private sealed class Dso(string name, bool isKernel)
    {
        public string Name { get; } = name;
        public bool IsKernel { get; } = isKernel;
        public bool Hit { get; set; }
        public byte[]? InlineBuildId { get; set; }
    }
}
