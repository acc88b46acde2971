using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// Turns the structures of a perf.data written on a machine of the other byte order (its magic reads as
/// "2ELIFREP") into this machine's order, in place, field by field, so every reader after this one sees an ordinary
/// file. perf does the same with its swap ops (tools/perf/util/session.c, header.c); unlike perf, the byte payloads
/// (RAW tracepoint data, user stack copies, AUX samples, strings, build-ids, PT bytes) are left exactly as written.
/// Fields are swapped only where they fit, so a short or damaged record is never read past its end.
/// </summary>
public static class ForeignByteOrder
{
    /// <summary>The file header: u64 magic, size, attr_size, three {offset, size} sections, and the feature bitmap as u64s.</summary>
    public static void FileHeader(Span<byte> head)
    {
        for (int o = 0; o + 8 <= head.Length; o += 8) Swap64(head, o);
    }

    /// <summary>
    /// A perf_event_attr (perf_event__attr_swap): fixed-width fields byte-swapped where attr.size covers them, and the
    /// 64-bit word of flag bitfields bit-reversed within each byte, since a big-endian compiler allocates bitfields
    /// from the most significant bit.
    /// </summary>
    public static void Attr(Span<byte> attr)
    {
        if (attr.Length < 8) return;
        Swap32(attr, 0);
        Swap32(attr, 4);
        uint declared = BinaryPrimitives.ReadUInt32LittleEndian(attr[4..]);
        int size = (int)Math.Min(declared == 0 ? (uint)PerfEventAttr.SizeVer0 : declared, (uint)attr.Length);
        // Offsets and widths of the uapi struct's fields after type and size (VER0 .. VER8, 136 bytes).
        ReadOnlySpan<byte> fields = [8, 8, 16, 8, 24, 8, 32, 8, 48, 4, 52, 4, 56, 8, 64, 8, 72, 8, 80, 8, 88, 4, 92, 4, 96, 8,
            104, 4, 108, 2, 110, 2, 112, 4, 116, 4, 120, 8, 128, 8];
        for (int i = 0; i < fields.Length; i += 2)
        {
            int offset = fields[i], width = fields[i + 1];
            if (offset + width > size) break;
            if (width == 8) Swap64(attr, offset);
            else if (width == 4) Swap32(attr, offset);
            else Swap16(attr, offset);
        }
        if (40 + 8 <= size)
            for (int i = 40; i < 48; i++) attr[i] = ReverseBits(attr[i]);
    }

    /// <summary>Swaps an array of u64 (ids, feature table entries, ...).</summary>
    public static void U64s(Span<byte> data)
    {
        for (int o = 0; o + 8 <= data.Length; o += 8) Swap64(data, o);
    }

    /// <summary>Only the 8-byte record header: u32 type, u16 misc, u16 size.</summary>
    public static void Header(Span<byte> header)
    {
        Swap32(header, 0);
        Swap16(header, 4);
        Swap16(header, 6);
    }

    /// <summary>
    /// A whole record whose header is already swapped. <paramref name="attrs"/> gives sample_type for samples and
    /// sample_id trailers (the event is found from the id, which is swapped first).
    /// </summary>
    public static void Record(Span<byte> r, AttrTable attrs)
    {
        var type = (PerfRecordType)BinaryPrimitives.ReadUInt32LittleEndian(r);
        ushort misc = BinaryPrimitives.ReadUInt16LittleEndian(r[4..]);
        int end = r.Length;
        if ((uint)type < 64 && type != PerfRecordType.Sample) end = Trailer(r, attrs);
        var b = new Cursor(r, PerfEventHeader.ByteSize, end);
        switch (type)
        {
            case PerfRecordType.Sample: Sample(r, attrs); break;
            case PerfRecordType.Mmap: b.U32(2); b.U64(3); break;
            case PerfRecordType.Lost: b.U64(2); break;
            case PerfRecordType.Comm: b.U32(2); break;
            case PerfRecordType.Exit: case PerfRecordType.Fork: b.U32(4); b.U64(1); break;
            case PerfRecordType.Throttle: case PerfRecordType.Unthrottle: b.U64(3); break;
            case PerfRecordType.Read: b.U32(2); b.U64((end - 16) / 8); break;
            case PerfRecordType.Mmap2:
                b.U32(2); b.U64(3);
                if ((misc & PerfRecordMisc.MmapBuildId) != 0) b.Skip(24);
                else { b.U32(2); b.U64(2); }
                b.U32(2);
                break;
            case PerfRecordType.Aux: b.U64(3); break;
            case PerfRecordType.ItraceStart: b.U32(2); break;
            case PerfRecordType.LostSamples: b.U64(1); break;
            case PerfRecordType.SwitchCpuWide: b.U32(2); break;
            case PerfRecordType.Namespaces: b.U32(2); b.U64((end - 16) / 8); break;
            case PerfRecordType.Ksymbol: b.U64(1); b.U32(1); b.U16(2); break;
            case PerfRecordType.BpfEvent: b.U16(2); b.U32(1); break;
            case PerfRecordType.Cgroup: b.U64(1); break;
            case PerfRecordType.TextPoke: b.U64(1); b.U16(2); break;
            case PerfRecordType.AuxOutputHwId: b.U64(1); break;
            // perf's own records.
            case PerfRecordType.HeaderAttr:
            {
                Attr(r[8..]);
                uint declared = BinaryPrimitives.ReadUInt32LittleEndian(r[12..]);
                int attrLen = declared == 0 ? PerfEventAttr.SizeVer0 : (int)Math.Min(declared, (uint)(r.Length - 8));
                U64s(r[(8 + attrLen)..]);
                break;
            }
            case PerfRecordType.IdIndex: case PerfRecordType.ThreadMap: case PerfRecordType.StatConfig:
            case PerfRecordType.StatRound: case PerfRecordType.TimeConv: case PerfRecordType.Auxtrace:
            case PerfRecordType.EventUpdate:
                Words(r, type);
                break;
            case PerfRecordType.AuxtraceInfo: b.U32(2); b.U64((end - 16) / 8); break;
            case PerfRecordType.HeaderTracingData: b.U32(1); break;
            case PerfRecordType.HeaderBuildId: b.U32(1); break;
            case PerfRecordType.HeaderFeature: b.U64(1); break;
            case PerfRecordType.Compressed2: b.U64(1); break;
            case PerfRecordType.Stat: b.U64(1); b.U32(2); b.U64(3); break;
            case PerfRecordType.AuxtraceError: b.U32(6); b.U64(1); b.Skip(64); b.U64(1); b.U32(2); break;   // ..., ip, msg[64], time, machine_pid, vcpu
        }
    }

    /// <summary>perf records whose body is u64 words with a few exceptions, which are fixed up here.</summary>
    private static void Words(Span<byte> r, PerfRecordType type)
    {
        var b = new Cursor(r, PerfEventHeader.ByteSize, r.Length);
        switch (type)
        {
            case PerfRecordType.Auxtrace: b.U64(3); b.U32(4); break;   // size, offset, reference; idx, tid, cpu, reserved
            case PerfRecordType.TimeConv: b.U64(5); break;             // shift, mult, zero, cycles, mask; then two flag bytes
            case PerfRecordType.ThreadMap:                              // nr, then {u64 pid; char comm[16]}
            {
                b.U64(1);
                while (b.Remaining >= 24) { b.U64(1); b.Skip(16); }
                break;
            }
            case PerfRecordType.EventUpdate:                            // type, id, then the payload
            {
                b.U64(2);
                ulong kind = BinaryPrimitives.ReadUInt64LittleEndian(r[8..]);
                if (kind == 1) b.U64(1);   // SCALE, a double; UNIT (0) and NAME (2) are strings, CPUS (3) stays raw
                break;
            }
            default: b.U64(b.Remaining / 8); break;
        }
    }

    /// <summary>Swaps a non-sample record's sample_id trailer; returns where the trailer starts (the body's end).</summary>
    private static int Trailer(Span<byte> r, AttrTable attrs)
    {
        if (attrs.Attrs.Count == 0 || !attrs.Attrs[0].SampleIdAll) return r.Length;
        SampleType t = attrs.Attrs[0].SampleType & SampleIdReader.TrailerBits;
        // With IDENTIFIER the last word names the event, whose own sample_type sizes the trailer.
        if ((t & SampleType.Identifier) != 0 && r.Length >= 16)
        {
            ulong id = BinaryPrimitives.ReverseEndianness(BinaryPrimitives.ReadUInt64LittleEndian(r[^8..]));
            if (attrs.FindById(id) is { } attr) t = attr.SampleType & SampleIdReader.TrailerBits;
        }
        int size = SampleIdTrailer.SizeFor(t);
        if (size == 0 || r.Length - PerfEventHeader.ByteSize < size) return r.Length;
        int start = r.Length - size;
        var c = new Cursor(r, start, r.Length);
        if ((t & SampleType.Tid) != 0) c.U32(2);
        if ((t & SampleType.Time) != 0) c.U64(1);
        if ((t & SampleType.Id) != 0) c.U64(1);
        if ((t & SampleType.StreamId) != 0) c.U64(1);
        if ((t & SampleType.Cpu) != 0) c.U32(2);
        if ((t & SampleType.Identifier) != 0) c.U64(1);
        return start;
    }

    /// <summary>A sample, field by field in the kernel's order (as <see cref="SampleParser"/> reads it).</summary>
    private static void Sample(Span<byte> r, AttrTable attrs)
    {
        EventAttrInfo? attr = FindSampleAttr(r, attrs);
        if (attr is null) return;
        ref readonly PerfEventAttr a = ref attr.AttrRef;
        SampleType t = a.SampleType;
        var c = new Cursor(r, PerfEventHeader.ByteSize, r.Length);
        if ((t & SampleType.Identifier) != 0) c.U64(1);
        if ((t & SampleType.Ip) != 0) c.U64(1);
        if ((t & SampleType.Tid) != 0) c.U32(2);
        if ((t & SampleType.Time) != 0) c.U64(1);
        if ((t & SampleType.Addr) != 0) c.U64(1);
        if ((t & SampleType.Id) != 0) c.U64(1);
        if ((t & SampleType.StreamId) != 0) c.U64(1);
        if ((t & SampleType.Cpu) != 0) c.U32(2);
        if ((t & SampleType.Period) != 0) c.U64(1);
        if ((t & SampleType.Read) != 0)
        {
            ReadFormat f = a.ReadFormat;
            int perValue = 1 + ((f & ReadFormat.Id) != 0 ? 1 : 0) + ((f & ReadFormat.Lost) != 0 ? 1 : 0);
            int times = ((f & ReadFormat.TotalTimeEnabled) != 0 ? 1 : 0) + ((f & ReadFormat.TotalTimeRunning) != 0 ? 1 : 0);
            if ((f & ReadFormat.Group) == 0) c.U64(perValue + times);
            else { ulong nr = c.U64Value(); c.U64(times + (int)Math.Min(nr, 1 << 16) * perValue); }
        }
        if ((t & SampleType.Callchain) != 0) { ulong nr = c.U64Value(); c.U64((int)Math.Min(nr, int.MaxValue / 8)); }
        if ((t & SampleType.Raw) != 0) { uint size = c.U32Value(); c.Skip((int)Math.Min(size, int.MaxValue)); }
        if ((t & SampleType.BranchStack) != 0)
        {
            ulong nr = c.U64Value();
            if ((a.BranchSampleType & (1UL << 17)) != 0) c.U64(1);   // hw_idx
            c.U64((int)Math.Min(nr * 3, int.MaxValue / 8));
        }
        if ((t & SampleType.RegsUser) != 0 && c.U64Value() != 0) c.U64((int)ulong.PopCount(a.SampleRegsUser));
        if ((t & SampleType.StackUser) != 0)
        {
            ulong size = c.U64Value();
            c.Skip((int)Math.Min(size, int.MaxValue));
            if (size != 0) c.U64(1);
        }
        if ((t & SampleType.WeightStruct) != 0) { c.U32(1); c.U16(2); }
        else if ((t & SampleType.Weight) != 0) c.U64(1);
        if ((t & SampleType.DataSrc) != 0) c.U64(1);
        if ((t & SampleType.Transaction) != 0) c.U64(1);
        if ((t & SampleType.RegsIntr) != 0 && c.U64Value() != 0) c.U64((int)ulong.PopCount(a.SampleRegsIntr));
        if ((t & SampleType.PhysAddr) != 0) c.U64(1);
        if ((t & SampleType.Cgroup) != 0) c.U64(1);
        if ((t & SampleType.DataPageSize) != 0) c.U64(1);
        if ((t & SampleType.CodePageSize) != 0) c.U64(1);
        if ((t & SampleType.Aux) != 0) c.U64Value();
    }

    /// <summary>The sample's event: the only one, or the one its (still foreign-order) id names.</summary>
    private static EventAttrInfo? FindSampleAttr(ReadOnlySpan<byte> r, AttrTable attrs)
    {
        if (attrs.Attrs.Count == 1) return attrs.Attrs[0];
        if (attrs.Attrs.Count == 0) return null;
        SampleType t = attrs.Attrs[0].SampleType;
        int pos;
        if ((t & SampleType.Identifier) != 0) pos = PerfEventHeader.ByteSize;
        else if ((t & SampleType.Id) != 0)
        {
            pos = PerfEventHeader.ByteSize;
            foreach (SampleType before in (ReadOnlySpan<SampleType>)[SampleType.Ip, SampleType.Tid, SampleType.Time, SampleType.Addr])
                if ((t & before) != 0) pos += 8;
        }
        else return attrs.Attrs[0];
        if (r.Length < pos + 8) return null;
        return attrs.FindById(BinaryPrimitives.ReverseEndianness(BinaryPrimitives.ReadUInt64LittleEndian(r[pos..])));
    }

    private static byte ReverseBits(byte b)
    {
        b = (byte)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
        b = (byte)((b & 0xCC) >> 2 | (b & 0x33) << 2);
        return (byte)((b & 0xAA) >> 1 | (b & 0x55) << 1);
    }

    private static void Swap16(Span<byte> b, int o) => BinaryPrimitives.WriteUInt16LittleEndian(b[o..], BinaryPrimitives.ReadUInt16BigEndian(b[o..]));
    private static void Swap32(Span<byte> b, int o) => BinaryPrimitives.WriteUInt32LittleEndian(b[o..], BinaryPrimitives.ReadUInt32BigEndian(b[o..]));
    private static void Swap64(Span<byte> b, int o) => BinaryPrimitives.WriteUInt64LittleEndian(b[o..], BinaryPrimitives.ReadUInt64BigEndian(b[o..]));

    /// <summary>Walks a record swapping fields in order, silently stopping at <c>end</c> (damaged or short records).</summary>
    private ref struct Cursor(Span<byte> data, int offset, int end)
    {
        private readonly Span<byte> _data = data;
        private int _o = offset;
        private readonly int _end = end;

        public readonly int Remaining => Math.Max(0, _end - _o);
        public void Skip(int n) => _o = n > Remaining ? _end : _o + n;
        public void U16(int count) { for (int i = 0; i < count && _o + 2 <= _end; i++, _o += 2) Swap16(_data, _o); }
        public void U32(int count) { for (int i = 0; i < count && _o + 4 <= _end; i++, _o += 4) Swap32(_data, _o); }
        public void U64(int count) { for (int i = 0; i < count && _o + 8 <= _end; i++, _o += 8) Swap64(_data, _o); }
        /// <summary>Swaps one u64 and returns its value (0 when it does not fit).</summary>
        public ulong U64Value()
        {
            if (_o + 8 > _end) { _o = _end; return 0; }
            Swap64(_data, _o);
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_data[_o..]);
            _o += 8;
            return v;
        }
        public uint U32Value()
        {
            if (_o + 4 > _end) { _o = _end; return 0; }
            Swap32(_data, _o);
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(_data[_o..]);
            _o += 4;
            return v;
        }
    }
}
