using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// The events of a file and the id -> event map. Ids come from the attrs section (file mode), HEADER_ATTR records
/// (pipe mode), and ID_INDEX. A record names its event by IDENTIFIER/ID; with one event nothing needs naming.
/// Like perf (evlist id_pos/is_pos) the first event's sample_type decides where the id sits in every record.
/// </summary>
public sealed class AttrTable
{
    private readonly List<EventAttrInfo> _attrs = [];
    private readonly Dictionary<ulong, EventAttrInfo> _byId = [];
    private int _samplePos = -1;   // byte offset of the id in a SAMPLE, -1 = none
    private int _trailerPos = -1;  // u64s from the end of other records, -1 = none

    public IReadOnlyList<EventAttrInfo> Attrs => _attrs;

    public EventAttrInfo? FindById(ulong id) => _byId.GetValueOrDefault(id);

    /// <summary>
    /// Decodes one stored attr (<paramref name="stored"/> = its bytes on file) and adds it. The attr's own size
    /// field says how much is meaningful (0 = VER0); fields we know are read, the rest is kept raw.
    /// </summary>
    public EventAttrInfo Add(ReadOnlySpan<byte> stored, ulong[] ids)
    {
        uint declared = stored.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(stored[4..]) : 0;
        int meaningful = declared == 0 ? PerfEventAttr.SizeVer0 : (int)Math.Min(declared, (uint)stored.Length);
        var attr = default(PerfEventAttr);
        Span<byte> known = MemoryMarshal.AsBytes(new Span<PerfEventAttr>(ref attr));
        stored[..Math.Min(Math.Min(meaningful, stored.Length), known.Length)].CopyTo(known);
        var info = new EventAttrInfo(_attrs.Count, attr, stored.ToArray(), ids);
        _attrs.Add(info);
        foreach (ulong id in ids) _byId[id] = info;
        if (_attrs.Count == 1) ComputePositions(attr.SampleType);
        return info;
    }

    /// <summary>The event of a record, or null when the file does not say (several events and no id).</summary>
    public EventAttrInfo? Resolve(PerfRecordType type, ReadOnlySpan<byte> record)
    {
        if (_attrs.Count == 0) return null;
        if (_attrs.Count == 1) return _attrs[0];
        if (type == PerfRecordType.Sample)
        {
            if (_samplePos < 0 || record.Length < _samplePos + 8) return null;
            return FindById(BinaryPrimitives.ReadUInt64LittleEndian(record[_samplePos..]));
        }
        if ((uint)type >= 64 || _trailerPos < 0 || !_attrs[0].SampleIdAll) return null;
        int at = record.Length - 8 * _trailerPos;
        if (at < PerfEventHeader.ByteSize) return null;
        return FindById(BinaryPrimitives.ReadUInt64LittleEndian(record[at..]));
    }

    private void ComputePositions(SampleType t)
    {
        if ((t & SampleType.Identifier) != 0) { _samplePos = PerfEventHeader.ByteSize; _trailerPos = 1; return; }
        if ((t & SampleType.Id) == 0) return;
        int pos = PerfEventHeader.ByteSize;
        foreach (SampleType before in (ReadOnlySpan<SampleType>)[SampleType.Ip, SampleType.Tid, SampleType.Time, SampleType.Addr])
            if ((t & before) != 0) pos += 8;
        _samplePos = pos;
        // From the end: IDENTIFIER (absent here), CPU, STREAM_ID come after ID in the trailer.
        int fromEnd = 1;
        if ((t & SampleType.Cpu) != 0) fromEnd++;
        if ((t & SampleType.StreamId) != 0) fromEnd++;
        _trailerPos = fromEnd;
    }
}
