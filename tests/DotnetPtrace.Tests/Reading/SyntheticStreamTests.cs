using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// Hand-built streams for what no available file has: an attr larger than any we know (a future perf), a VER0 attr,
/// ids only from ID_INDEX, record types we do not know, and a sample with every sample_type field at once.
/// </summary>
public sealed class SyntheticStreamTests
{
    private const SampleType Layout = SampleType.Identifier | SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Period;
    private const int FutureAttrSize = 160;   // 24 bytes past VER8

    [Fact]
    public void Pipe_mode_reads_future_and_ver0_attrs_id_index_and_keeps_unknown_records()
    {
        var s = new Bytes();
        s.U64(0x32454c4946524550).U64(16);
        s.Raw(Record(PerfRecordType.HeaderAttr, [.. FutureAttr(), .. U64s(7)]));
        s.Raw(Record(PerfRecordType.HeaderAttr, [.. Ver0Attr(), .. U64s(8)]));
        // ID_INDEX idx is a cpu-map position, not an attr index: id 7 (attr 0) at idx 1 and id 8 (attr 1) at idx 0
        // must stay with their attrs, as perf keeps them (reading idx as an attr index once put system-wide cpu 1 samples under dummy:HG).
        s.Raw(Record(PerfRecordType.IdIndex, U64s(2, 7, 1, 1, 0, 8, 0, 0, 0)));
        AppendRecords(s);
        using var reader = PerfDataReader.Open(new MemoryStream(s.ToArray()), "synthetic");
        AssertRecords(reader);
        Assert.True(reader.IsPipe);
    }

    [Fact]
    public void File_mode_strides_attrs_by_the_header_attr_size_and_keeps_unknown_attr_bytes()
    {
        // Layout: header (104) | attr entries (2 x (160 + 16)) | ids (8 + 8) | data.
        const int entry = FutureAttrSize + 16;
        int attrsAt = 104, idsAt = attrsAt + 2 * entry, dataAt = idsAt + 16;
        var data = new Bytes();
        AppendRecords(data);
        byte[] records = data.ToArray();
        var f = new Bytes();
        f.U64(0x32454c4946524550).U64(104).U64(entry).U64((ulong)attrsAt).U64(2 * entry).U64((ulong)dataAt).U64((ulong)records.Length);
        f.U64(0).U64(0).U64(0).U64(0).U64(0).U64(0);   // event_types, no features
        f.Raw(FutureAttr()).U64((ulong)idsAt).U64(8);
        byte[] ver0 = new byte[FutureAttrSize];
        Ver0Attr().CopyTo(ver0, 0);   // a VER0 attr in a 160-byte slot: its size field says 64 bytes are meaningful
        f.Raw(ver0).U64((ulong)idsAt + 8).U64(8);
        f.U64(7).U64(8);
        f.Raw(records);
        using var reader = PerfDataReader.Open(new MemoryStream(f.ToArray()), "synthetic");
        AssertRecords(reader);
        Assert.Equal((ulong)entry, reader.AttrEntrySize);
    }

    private static void AppendRecords(Bytes s)
    {
        s.Raw(Record(PerfRecordType.Sample, U64s(7, 0x1000, 0x0000_0002_0000_0001, 111, 10)));
        s.Raw(Record(PerfRecordType.Sample, U64s(8, 0x2000, 0x0000_0004_0000_0003, 222, 20)));
        s.Raw(Record((PerfRecordType)99, U64s(0xdead)));
        s.Raw(Record((PerfRecordType)40000, U64s(0xbeef, 1)));
        // COMM "x" with the sample_id trailer of attr B: {pid,tid} {time} {identifier}.
        s.Raw(Record(PerfRecordType.Comm, [.. U32s(5, 6), .. "x\0\0\0\0\0\0\0"u8.ToArray(), .. U64s(0x0000_0006_0000_0005, 333, 8)]));
        s.Raw(Record(PerfRecordType.FinishedRound, []));
    }

    private static void AssertRecords(PerfDataReader reader)
    {
        var seen = new List<(PerfRecordType Type, int? Attr, bool Known)>();
        ulong commTime = 0;
        var samples = new List<(ulong Ip, uint Pid, ulong Time, ulong Period)>();
        while (reader.TryRead(out PerfRecord r))
        {
            seen.Add((r.Type, r.Attr?.Index, r.IsKnownType));
            if (r.Type == PerfRecordType.Sample)
            {
                Assert.True(SampleParser.TryParse(r.Bytes, r.Attr!, out PerfSample p, out string? error), error);
                samples.Add((p.Ip, p.Pid, p.Time, p.Period));
            }
            if (r.Type == PerfRecordType.Comm && SampleIdReader.TryRead(r.Type, r.Bytes, r.Attr, out var t, out _)) commTime = t.Time;
        }
        Assert.Null(reader.Error);
        Assert.Equal(2, reader.Attrs.Attrs.Count);
        var future = reader.Attrs.Attrs[0];
        Assert.Equal(FutureAttrSize, future.RawBytes.Length);
        Assert.All(future.RawBytes[PerfEventAttr.SizeVer8..], b => Assert.Equal(0xab, b));   // unknown fields kept
        Assert.Equal(0x0123_4567_89ab_cdefUL, future.Attr.Config3);                          // known VER8 field read
        Assert.Equal(Layout, reader.Attrs.Attrs[1].SampleType);
        Assert.Equal([(0x1000UL, 1u, 111UL, 10UL), (0x2000UL, 3u, 222UL, 20UL)], samples);
        var records = seen.Where(x => x.Type is not (PerfRecordType.HeaderAttr or PerfRecordType.IdIndex)).ToList();
        Assert.Equal([PerfRecordType.Sample, PerfRecordType.Sample, (PerfRecordType)99, (PerfRecordType)40000, PerfRecordType.Comm, PerfRecordType.FinishedRound],
                     records.Select(r => r.Type));
        Assert.Equal([true, true, false, false, true, true], records.Select(r => r.Known));
        // Sample ids 7 and 8 name attrs 0 and 1 (from HEADER_ATTR or the ids section, whatever ID_INDEX says); the COMM's trailer names 1.
        Assert.Equal([0, 1, 1], records.Where(r => r.Type is PerfRecordType.Sample or PerfRecordType.Comm).Select(r => r.Attr ?? -1));
        Assert.Equal(333UL, commTime);
        Assert.Equal(1, reader.UnknownTypeCounts[99]);
        Assert.Equal(1, reader.UnknownTypeCounts[40000]);
    }

    [Fact]
    public void Every_sample_field_is_read_in_the_kernel_order()
    {
        var attr = new PerfEventAttr
        {
            Size = PerfEventAttr.SizeVer7,
            SampleType = SampleType.Identifier | SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Addr | SampleType.Id
                | SampleType.StreamId | SampleType.Cpu | SampleType.Period | SampleType.Read | SampleType.Callchain | SampleType.Raw
                | SampleType.BranchStack | SampleType.RegsUser | SampleType.StackUser | SampleType.WeightStruct | SampleType.DataSrc
                | SampleType.Transaction | SampleType.RegsIntr | SampleType.PhysAddr | SampleType.Cgroup | SampleType.DataPageSize
                | SampleType.CodePageSize | SampleType.Aux,
            ReadFormat = ReadFormat.Group | ReadFormat.Id | ReadFormat.TotalTimeEnabled | ReadFormat.Lost,
            BranchSampleType = 1UL << 17,   // HW_INDEX
            SampleRegsUser = 0b1011,        // three registers
            SampleRegsIntr = 0b1,
        };
        var b = new Bytes();
        b.U64(1).U64(2).U32(3).U32(4).U64(5).U64(6).U64(7).U64(8).U32(9).U32(0).U64(10);
        b.U64(2).U64(11).U64(12).U64(13).U64(14).U64(15).U64(16).U64(17);          // READ group: nr, enabled, {value,id,lost} x2
        b.U64(3).U64(unchecked((ulong)-512)).U64(18).U64(19);                     // CALLCHAIN: marker + 2 ips
        b.U32(4).U32(0x52415721);                                                  // RAW: 4 bytes (4 + 4 = 8 aligned)
        b.U64(2).U64(20).U64(21).U64(22).U64(23).U64(24).U64(25).U64(26);          // BRANCH_STACK: nr, hw_idx, 2 x {from,to,flags}
        b.U64(2).U64(27).U64(28).U64(29);                                          // REGS_USER: abi, 3 regs
        b.U64(16).U64(30).U64(31).U64(12);                                         // STACK_USER: size, 16 bytes, dyn_size
        b.U64(32).U64(33).U64(34);                                                 // WEIGHT_STRUCT, DATA_SRC, TRANSACTION
        b.U64(1).U64(35);                                                          // REGS_INTR: abi, 1 reg
        b.U64(36).U64(37).U64(38).U64(39);                                         // PHYS_ADDR, CGROUP, DATA/CODE_PAGE_SIZE
        b.U64(8).U64(40);                                                          // AUX: size, data
        byte[] record = Record(PerfRecordType.Sample, b.ToArray());
        var table = new AttrTable();
        var info = table.Add(MemoryMarshal.AsBytes(new ReadOnlySpan<PerfEventAttr>(in attr))[..PerfEventAttr.SizeVer7], [1]);

        Assert.True(SampleParser.TryParse(record, info, out PerfSample s, out string? error), error);
        Assert.Equal((1UL, 2UL, 3u, 4u, 5UL, 6UL, 7UL, 8UL, 9u, 10UL), (s.Identifier, s.Ip, s.Pid, s.Tid, s.Time, s.Addr, s.Id, s.StreamId, s.Cpu, s.Period));
        Assert.Equal(8 * 8, s.Read.Length);
        Assert.Equal([unchecked((ulong)-512), 18UL, 19UL], s.Callchain.ToArray());
        Assert.Equal(0x52415721u, BinaryPrimitives.ReadUInt32LittleEndian(s.Raw));
        Assert.Equal(20UL, s.BranchHwIndex);
        Assert.Equal([21UL, 22, 23, 24, 25, 26], s.Branches.ToArray());
        Assert.Equal(2UL, s.UserRegsAbi);
        Assert.Equal([27UL, 28, 29], s.UserRegs.ToArray());
        Assert.Equal((16, 12UL), (s.UserStack.Length, s.UserStackDynSize));
        Assert.Equal((32UL, 33UL, 34UL), (s.Weight, s.DataSrc, s.Transaction));
        Assert.Equal(1UL, s.IntrRegsAbi);
        Assert.Equal([35UL], s.IntrRegs.ToArray());
        Assert.Equal((36UL, 37UL, 38UL, 39UL), (s.PhysAddr, s.Cgroup, s.DataPageSize, s.CodePageSize));
        Assert.Equal(40UL, BinaryPrimitives.ReadUInt64LittleEndian(s.Aux));
        // One byte short anywhere is a parse failure that names a field, never an exception.
        for (int cut = 8; cut < record.Length; cut += 4)
        {
            byte[] shorter = record[..cut];
            BinaryPrimitives.WriteUInt16LittleEndian(shorter.AsSpan(6), (ushort)cut);
            Assert.False(SampleParser.TryParse(shorter, info, out _, out string? why));
            Assert.StartsWith("sample too short for ", why);
        }
    }

    private static byte[] FutureAttr()
    {
        var a = new PerfEventAttr { Type = 1, Size = FutureAttrSize, SampleType = Layout, Flags = AttrFlags.SampleIdAll, SamplePeriod = 1, Config3 = 0x0123_4567_89ab_cdef };
        byte[] bytes = new byte[FutureAttrSize];
        MemoryMarshal.AsBytes(new ReadOnlySpan<PerfEventAttr>(in a)).CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), FutureAttrSize);
        bytes.AsSpan(PerfEventAttr.SizeVer8).Fill(0xab);
        return bytes;
    }

    private static byte[] Ver0Attr()
    {
        var a = new PerfEventAttr { Type = 1, Size = 0, Config = 9, SampleType = Layout, Flags = AttrFlags.SampleIdAll, SamplePeriod = 1 };
        return MemoryMarshal.AsBytes(new ReadOnlySpan<PerfEventAttr>(in a))[..PerfEventAttr.SizeVer0].ToArray();
    }

    private static byte[] Record(PerfRecordType type, byte[] body)
    {
        byte[] r = new byte[8 + body.Length];
        new PerfEventHeader(type, 0, (ushort)r.Length).Write(r);
        body.CopyTo(r, 8);
        return r;
    }

    private static byte[] U64s(params ulong[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
    private static byte[] U32s(params uint[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private sealed class Bytes
    {
        private readonly List<byte> _b = [];
        public Bytes U64(ulong v) { _b.AddRange(BitConverter.GetBytes(v)); return this; }
        public Bytes U32(uint v) { _b.AddRange(BitConverter.GetBytes(v)); return this; }
        public Bytes Raw(byte[] v) { _b.AddRange(v); return this; }
        public byte[] ToArray() => [.. _b];
    }
}
