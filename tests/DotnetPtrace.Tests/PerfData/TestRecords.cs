using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Tests.PerfData;

/// <summary>
/// Builds kernel-format records for the two-attr layout the tests use: samples carry
/// IDENTIFIER|IP|TID|TIME|CPU|PERIOD, other records a sample_id trailer {pid,tid; time; cpu,res; identifier}.
/// </summary>
internal static class TestRecords
{
    public const ulong CpuClockId = 101;
    public const ulong DummyId = 202;
    public const SampleType Layout = SampleType.Identifier | SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Cpu | SampleType.Period;

    public static EventAttrEntry[] Attrs() =>
    [
        new(new PerfEventAttr
        {
            Type = (uint)PerfType.Software,
            Size = PerfEventAttr.SizeVer8,
            Config = (ulong)SoftwareEvent.CpuClock,
            SamplePeriod = 100_000,
            SampleType = Layout,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.EnableOnExec | AttrFlags.ExcludeKernel,
        }, [CpuClockId], "cpu-clock"),
        new(new PerfEventAttr
        {
            Type = (uint)PerfType.Software,
            Size = PerfEventAttr.SizeVer8,
            Config = (ulong)SoftwareEvent.Dummy,
            SamplePeriod = 1,
            SampleType = Layout,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.Mmap | AttrFlags.Mmap2 | AttrFlags.Comm
                | AttrFlags.CommExec | AttrFlags.Task | AttrFlags.EnableOnExec | AttrFlags.ExcludeKernel,
        }, [DummyId], "dummy:u"),
    ];

    public static byte[] Comm(int pid, int tid, string comm, ulong time, bool exec = true)
    {
        var body = new List<byte>();
        AddU32(body, (uint)pid);
        AddU32(body, (uint)tid);
        AddPaddedString(body, comm);
        AddSampleId(body, pid, tid, time);
        return Record(PerfRecordType.Comm, (ushort)(PerfRecordMisc.User | (exec ? PerfRecordMisc.CommExec : 0)), body);
    }

    public static byte[] Mmap2(int pid, int tid, ulong addr, ulong len, ulong pgoff, string filename, ulong time, byte[]? buildId = null)
    {
        var body = new List<byte>();
        AddU32(body, (uint)pid);
        AddU32(body, (uint)tid);
        AddU64(body, addr);
        AddU64(body, len);
        AddU64(body, pgoff);
        if (buildId is null)
        {
            AddU32(body, 8);      // maj
            AddU32(body, 1);      // min
            AddU64(body, 12345);  // ino
            AddU64(body, 0);      // ino_generation
        }
        else
        {
            body.Add((byte)buildId.Length);
            body.AddRange(new byte[3]);
            var id = new byte[20];
            buildId.CopyTo(id, 0);
            body.AddRange(id);
        }
        AddU32(body, 5);  // PROT_READ|PROT_EXEC
        AddU32(body, 2);  // MAP_PRIVATE
        AddPaddedString(body, filename);
        AddSampleId(body, pid, tid, time);
        ushort misc = (ushort)(PerfRecordMisc.User | (buildId is null ? 0 : PerfRecordMisc.MmapBuildId));
        return Record(PerfRecordType.Mmap2, misc, body);
    }

    /// <summary>A kernel MMAP as perf synthesises it: pid -1, cpumode KERNEL.</summary>
    public static byte[] KernelMmap(ulong addr, ulong len, string filename)
    {
        var body = new List<byte>();
        AddU32(body, uint.MaxValue);
        AddU32(body, 0);
        AddU64(body, addr);
        AddU64(body, len);
        AddU64(body, 0);
        AddPaddedString(body, filename);
        AddSampleId(body, -1, 0, 0);
        return Record(PerfRecordType.Mmap, PerfRecordMisc.Kernel, body);
    }

    public static byte[] Sample(int pid, int tid, ulong ip, ulong time, uint cpu = 0, ulong id = CpuClockId, ushort cpuMode = PerfRecordMisc.User)
    {
        var body = new List<byte>();
        AddU64(body, id);
        AddU64(body, ip);
        AddU32(body, (uint)pid);
        AddU32(body, (uint)tid);
        AddU64(body, time);
        AddU32(body, cpu);
        AddU32(body, 0);
        AddU64(body, 100_000);  // period
        return Record(PerfRecordType.Sample, cpuMode, body);
    }

    public static byte[] Lost(ulong lost, ulong time)
    {
        var body = new List<byte>();
        AddU64(body, CpuClockId);
        AddU64(body, lost);
        AddSampleId(body, -1, -1, time);
        return Record(PerfRecordType.Lost, 0, body);
    }

    public static byte[] LostSamples(ulong lost, ulong time)
    {
        var body = new List<byte>();
        AddU64(body, lost);
        AddSampleId(body, -1, -1, time);
        return Record(PerfRecordType.LostSamples, 0, body);
    }

    public static byte[] Fork(int pid, int ppid, ulong time)
    {
        var body = new List<byte>();
        AddU32(body, (uint)pid);
        AddU32(body, (uint)ppid);
        AddU32(body, (uint)pid);
        AddU32(body, (uint)ppid);
        AddU64(body, time);
        AddSampleId(body, pid, pid, time);
        return Record(PerfRecordType.Fork, 0, body);
    }

    public static byte[] Concat(params byte[][] records) => records.SelectMany(r => r).ToArray();

    private static byte[] Record(PerfRecordType type, ushort misc, List<byte> body)
    {
        var record = new byte[8 + body.Count];
        new PerfEventHeader(type, misc, (ushort)record.Length).Write(record);
        body.CopyTo(record, 8);
        return record;
    }

    /// <summary>sample_id_all trailer for <see cref="Layout"/>: TID, TIME, CPU, IDENTIFIER (the dummy's id).</summary>
    private static void AddSampleId(List<byte> body, int pid, int tid, ulong time)
    {
        AddU32(body, (uint)pid);
        AddU32(body, (uint)tid);
        AddU64(body, time);
        AddU32(body, 0);
        AddU32(body, 0);
        AddU64(body, DummyId);
    }

    private static void AddPaddedString(List<byte> body, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        int padded = (bytes.Length + 1 + 7) / 8 * 8;
        body.AddRange(bytes);
        body.AddRange(new byte[padded - bytes.Length]);
    }

    private static void AddU32(List<byte> body, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        body.AddRange(b.ToArray());
    }

    private static void AddU64(List<byte> body, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        body.AddRange(b.ToArray());
    }
}
