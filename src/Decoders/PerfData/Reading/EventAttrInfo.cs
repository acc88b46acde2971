using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// One event of a file as read: the attr fields we know, the attr bytes exactly as stored (a newer perf may have
/// written fields we do not know; they are kept, not dropped), its ids, and the name perf tools show.
/// </summary>
public sealed class EventAttrInfo(int index, PerfEventAttr attr, byte[] rawBytes, ulong[] ids)
{
    public int Index { get; } = index;
    private readonly PerfEventAttr _attr = attr;

    public PerfEventAttr Attr => _attr;
    /// <summary>The attr by reference, for hot paths that read a field per record.</summary>
    public ref readonly PerfEventAttr AttrRef => ref _attr;
    /// <summary>The attr as stored on file, including bytes past the fields this reader knows.</summary>
    public byte[] RawBytes { get; } = rawBytes;
    public ulong[] Ids { get; internal set; } = ids;
    /// <summary>From EVENT_DESC or EVENT_UPDATE when the file has one, otherwise derived from type/config.</summary>
    public string Name { get; internal set; } = EventNames.Default(attr);

    public SampleType SampleType => Attr.SampleType;
    public bool SampleIdAll => Attr.Has(AttrFlags.SampleIdAll);
}
