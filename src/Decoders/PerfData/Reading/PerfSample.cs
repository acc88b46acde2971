using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// A PERF_RECORD_SAMPLE decoded with its event's sample_type: each field is valid only when its bit is set
/// (<see cref="Type"/>). Variable-length parts are spans into the record; nothing is copied.
/// </summary>
public ref struct PerfSample
{
    public SampleType Type;
    public ushort Misc;
    public ulong Identifier, Ip, Time, Addr, Id, StreamId, Period;
    public uint Pid, Tid, Cpu;
    /// <summary>READ values as stored (read_format decides the shape).</summary>
    public ReadOnlySpan<byte> Read;
    /// <summary>Callchain entries, context markers (PERF_CONTEXT_*, values >= 0xffff_ffff_ffff_f000) included.</summary>
    public ReadOnlySpan<ulong> Callchain;
    public ReadOnlySpan<byte> Raw;
    public ulong BranchHwIndex;
    /// <summary>BRANCH_STACK entries: {from, to, flags} triples.</summary>
    public ReadOnlySpan<ulong> Branches;
    public ulong UserRegsAbi;
    public ReadOnlySpan<ulong> UserRegs;
    public ReadOnlySpan<byte> UserStack;
    public ulong UserStackDynSize;
    public ulong Weight, DataSrc, Transaction;
    public ulong IntrRegsAbi;
    public ReadOnlySpan<ulong> IntrRegs;
    public ulong PhysAddr, Cgroup, DataPageSize, CodePageSize;
    public ReadOnlySpan<byte> Aux;

    public readonly bool Has(SampleType bit) => (Type & bit) != 0;
    public readonly int BranchCount => Branches.Length / 3;
    public readonly ushort CpuMode => (ushort)(Misc & PerfRecordMisc.CpuModeMask);
}

/// <summary>Parses PERF_RECORD_SAMPLE in the kernel's field order (perf_output_sample in kernel/events/core.c).</summary>
public static class SampleParser
{
    /// <summary>branch_sample_type HW_INDEX: a u64 hw_idx precedes the entries.</summary>
    private const ulong BranchHwIndexBit = 1UL << 17;

    /// <summary>Parses the sample; on failure <paramref name="error"/> names the field that did not fit.</summary>
    public static bool TryParse(ReadOnlySpan<byte> record, EventAttrInfo attr, out PerfSample s, out string? error)
    {
        s = default;
        error = null;
        ref readonly PerfEventAttr a = ref attr.AttrRef;
        var t = a.SampleType;
        s.Type = t;
        s.Misc = PerfEventHeader.Read(record).Misc;
        // Without PERIOD in the sample the period is the attr's fixed one (perf: evsel__parse_sample).
        s.Period = a.SamplePeriod;
        var r = new Cursor(record, PerfEventHeader.ByteSize);
        if ((t & SampleType.Identifier) != 0 && !r.U64(out s.Identifier)) return Short(out error, "IDENTIFIER");
        if ((t & SampleType.Ip) != 0 && !r.U64(out s.Ip)) return Short(out error, "IP");
        if ((t & SampleType.Tid) != 0 && !(r.U32(out s.Pid) && r.U32(out s.Tid))) return Short(out error, "TID");
        if ((t & SampleType.Time) != 0 && !r.U64(out s.Time)) return Short(out error, "TIME");
        if ((t & SampleType.Addr) != 0 && !r.U64(out s.Addr)) return Short(out error, "ADDR");
        if ((t & SampleType.Id) != 0 && !r.U64(out s.Id)) return Short(out error, "ID");
        if ((t & SampleType.StreamId) != 0 && !r.U64(out s.StreamId)) return Short(out error, "STREAM_ID");
        if ((t & SampleType.Cpu) != 0 && !(r.U32(out s.Cpu) && r.Skip(4))) return Short(out error, "CPU");
        if ((t & SampleType.Period) != 0 && !r.U64(out s.Period)) return Short(out error, "PERIOD");
        if ((t & SampleType.Read) != 0)
        {
            int start = r.Offset;
            if (!SkipRead(ref r, a.ReadFormat)) return Short(out error, "READ");
            s.Read = record[start..r.Offset];
        }
        if ((t & SampleType.Callchain) != 0)
        {
            if (!r.U64(out ulong nr) || !r.U64s(nr, out s.Callchain)) return Short(out error, "CALLCHAIN");
        }
        if ((t & SampleType.Raw) != 0)
        {
            if (!r.U32(out uint size) || !r.Bytes(size, out s.Raw)) return Short(out error, "RAW");
        }
        if ((t & SampleType.BranchStack) != 0)
        {
            if (!r.U64(out ulong nr)) return Short(out error, "BRANCH_STACK");
            if ((a.BranchSampleType & BranchHwIndexBit) != 0 && !r.U64(out s.BranchHwIndex)) return Short(out error, "BRANCH_STACK hw_idx");
            if (nr > int.MaxValue / 3 || !r.U64s(nr * 3, out s.Branches)) return Short(out error, "BRANCH_STACK entries");
        }
        if ((t & SampleType.RegsUser) != 0)
        {
            if (!r.U64(out s.UserRegsAbi)) return Short(out error, "REGS_USER");
            if (s.UserRegsAbi != 0 && !r.U64s((ulong)ulong.PopCount(a.SampleRegsUser), out s.UserRegs)) return Short(out error, "REGS_USER regs");
        }
        if ((t & SampleType.StackUser) != 0)
        {
            if (!r.U64(out ulong size) || !r.Bytes(size, out s.UserStack)) return Short(out error, "STACK_USER");
            if (size != 0 && !r.U64(out s.UserStackDynSize)) return Short(out error, "STACK_USER dyn_size");
        }
        if ((t & (SampleType.Weight | SampleType.WeightStruct)) != 0 && !r.U64(out s.Weight)) return Short(out error, "WEIGHT");
        if ((t & SampleType.DataSrc) != 0 && !r.U64(out s.DataSrc)) return Short(out error, "DATA_SRC");
        if ((t & SampleType.Transaction) != 0 && !r.U64(out s.Transaction)) return Short(out error, "TRANSACTION");
        if ((t & SampleType.RegsIntr) != 0)
        {
            if (!r.U64(out s.IntrRegsAbi)) return Short(out error, "REGS_INTR");
            if (s.IntrRegsAbi != 0 && !r.U64s((ulong)ulong.PopCount(a.SampleRegsIntr), out s.IntrRegs)) return Short(out error, "REGS_INTR regs");
        }
        if ((t & SampleType.PhysAddr) != 0 && !r.U64(out s.PhysAddr)) return Short(out error, "PHYS_ADDR");
        if ((t & SampleType.Cgroup) != 0 && !r.U64(out s.Cgroup)) return Short(out error, "CGROUP");
        if ((t & SampleType.DataPageSize) != 0 && !r.U64(out s.DataPageSize)) return Short(out error, "DATA_PAGE_SIZE");
        if ((t & SampleType.CodePageSize) != 0 && !r.U64(out s.CodePageSize)) return Short(out error, "CODE_PAGE_SIZE");
        if ((t & SampleType.Aux) != 0)
        {
            if (!r.U64(out ulong size) || !r.Bytes(size, out s.Aux)) return Short(out error, "AUX");
        }
        return true;
    }

    private static bool SkipRead(ref Cursor r, ReadFormat f)
    {
        int perValue = 1 + ((f & ReadFormat.Id) != 0 ? 1 : 0) + ((f & ReadFormat.Lost) != 0 ? 1 : 0);
        int times = ((f & ReadFormat.TotalTimeEnabled) != 0 ? 1 : 0) + ((f & ReadFormat.TotalTimeRunning) != 0 ? 1 : 0);
        if ((f & ReadFormat.Group) == 0) return r.Skip(8 * (perValue + times));
        if (!r.U64(out ulong nr) || nr > 1 << 16) return false;
        return r.Skip(8 * (times + (int)nr * perValue));
    }

    private static bool Short(out string error, string field)
    {
        error = $"sample too short for {field}";
        return false;
    }

    private ref struct Cursor(ReadOnlySpan<byte> data, int offset)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        public int Offset = offset;

        public bool U64(out ulong v)
        {
            if (_data.Length - Offset < 8) { v = 0; return false; }
            v = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_data[Offset..]);
            Offset += 8;
            return true;
        }

        public bool U32(out uint v)
        {
            if (_data.Length - Offset < 4) { v = 0; return false; }
            v = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_data[Offset..]);
            Offset += 4;
            return true;
        }

        public bool Skip(int n)
        {
            if (n < 0 || _data.Length - Offset < n) return false;
            Offset += n;
            return true;
        }

        public bool Bytes(ulong n, out ReadOnlySpan<byte> v)
        {
            v = default;
            if (n > (ulong)(_data.Length - Offset)) return false;
            v = _data.Slice(Offset, (int)n);
            Offset += (int)n;
            return true;
        }

        public bool U64s(ulong n, out ReadOnlySpan<ulong> v)
        {
            v = default;
            if (n > (ulong)((_data.Length - Offset) / 8)) return false;
            v = MemoryMarshal.Cast<byte, ulong>(_data.Slice(Offset, (int)n * 8));
            Offset += (int)n * 8;
            return true;
        }
    }
}
