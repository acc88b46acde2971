using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.Abi;

/// <summary>
/// Builds the records a recorder synthesizes for processes that were running before tracing began (perf's
/// perf_event__synthesize_*), and the tool's own records (FINISHED_ROUND), byte for byte as the kernel would
/// have written them, including the sample_id trailer of the attr they are attributed to.
/// </summary>
public sealed class RecordBuilder(SampleType sampleIdType)
{
    private readonly int _trailerSize = SampleIdTrailer.SizeFor(sampleIdType);

    public SampleType SampleIdType { get; } = sampleIdType;

    public byte[] Comm(uint pid, uint tid, string comm, bool exec, in SampleIdTrailer trailer)
    {
        // The kernel's comm is TASK_COMM_LEN = 16 bytes including the NUL.
        if (comm.Length > 15) comm = comm[..15];
        while (Encoding.UTF8.GetByteCount(comm) > 15) comm = comm[..^1];
        int nameBytes = Align8(Encoding.UTF8.GetByteCount(comm) + 1);
        var r = Start(PerfRecordType.Comm, exec ? PerfRecordMisc.CommExec : (ushort)0, 8 + nameBytes, out int o);
        U32(r, ref o, pid); U32(r, ref o, tid);
        WriteString(r.AsSpan(o, nameBytes), comm); o += nameBytes;
        Finish(r, o, trailer);
        return r;
    }

    public byte[] Fork(uint pid, uint ppid, uint tid, uint ptid, ulong time, in SampleIdTrailer trailer)
    {
        var r = Start(PerfRecordType.Fork, 0, 24, out int o);
        U32(r, ref o, pid); U32(r, ref o, ppid); U32(r, ref o, tid); U32(r, ref o, ptid); U64(r, ref o, time);
        Finish(r, o, trailer);
        return r;
    }

    /// <summary>PERF_RECORD_EXIT: the same body as FORK ({pid, ppid, tid, ptid, time}).</summary>
    public byte[] Exit(uint pid, uint ppid, uint tid, uint ptid, ulong time, in SampleIdTrailer trailer)
    {
        var r = Start(PerfRecordType.Exit, 0, 24, out int o);
        U32(r, ref o, pid); U32(r, ref o, ppid); U32(r, ref o, tid); U32(r, ref o, ptid); U64(r, ref o, time);
        Finish(r, o, trailer);
        return r;
    }

    /// <summary>PERF_RECORD_ITRACE_START: {pid, tid}; the kernel writes it when an AUX event starts on a task.</summary>
    public byte[] ItraceStart(uint pid, uint tid, in SampleIdTrailer trailer)
    {
        var r = Start(PerfRecordType.ItraceStart, 0, 8, out int o);
        U32(r, ref o, pid); U32(r, ref o, tid);
        Finish(r, o, trailer);
        return r;
    }

    /// <summary>
    /// MMAP2. With a build-id the union after pgoff holds {u8 size, u8 pad[3], u8 build_id[20]} and misc has
    /// MMAP_BUILD_ID; otherwise it holds maj, min, ino, ino_generation.
    /// </summary>
    public byte[] Mmap2(uint pid, uint tid, ulong addr, ulong len, ulong pgoff, uint maj, uint min, ulong ino,
        uint prot, uint flags, string filename, ReadOnlySpan<byte> buildId, ushort cpuMode, in SampleIdTrailer trailer)
    {
        int nameBytes = Align8(Encoding.UTF8.GetByteCount(filename) + 1);
        bool withBuildId = buildId.Length is > 0 and <= 20;
        ushort misc = (ushort)(cpuMode | (withBuildId ? PerfRecordMisc.MmapBuildId : 0));
        var r = Start(PerfRecordType.Mmap2, misc, 8 + 24 + 24 + 8 + nameBytes, out int o);
        U32(r, ref o, pid); U32(r, ref o, tid);
        U64(r, ref o, addr); U64(r, ref o, len); U64(r, ref o, pgoff);
        if (withBuildId)
        {
            r[o] = (byte)buildId.Length;
            buildId.CopyTo(r.AsSpan(o + 4));
            o += 24;
        }
        else
        {
            U32(r, ref o, maj); U32(r, ref o, min); U64(r, ref o, ino); U64(r, ref o, 0);
        }
        U32(r, ref o, prot); U32(r, ref o, flags);
        WriteString(r.AsSpan(o, nameBytes), filename); o += nameBytes;
        Finish(r, o, trailer);
        return r;
    }

    /// <summary>
    /// MMAP (the original, without device/inode fields): perf uses it for the kernel's own text,
    /// "[kernel.kallsyms]_text" with pid -1, so that kernel samples resolve against kallsyms.
    /// </summary>
    public byte[] Mmap(uint pid, uint tid, ulong addr, ulong len, ulong pgoff, string filename, ushort cpuMode, in SampleIdTrailer trailer)
    {
        int nameBytes = Align8(Encoding.UTF8.GetByteCount(filename) + 1);
        var r = Start(PerfRecordType.Mmap, cpuMode, 8 + 24 + nameBytes, out int o);
        U32(r, ref o, pid); U32(r, ref o, tid);
        U64(r, ref o, addr); U64(r, ref o, len); U64(r, ref o, pgoff);
        WriteString(r.AsSpan(o, nameBytes), filename); o += nameBytes;
        Finish(r, o, trailer);
        return r;
    }

    /// <summary>
    /// PERF_RECORD_TIME_CONV: the user page's TSC-to-perf-time conversion, so timestamps in a hardware trace (TSC
    /// packets) line up with perf time. The long form (with time_cycles/time_mask and the two capability bytes).
    /// </summary>
    public static byte[] TimeConv(ushort timeShift, uint timeMult, ulong timeZero, ulong timeCycles, ulong timeMask,
        bool capUserTimeZero, bool capUserTimeShort)
    {
        var r = new byte[PerfEventHeader.ByteSize + 48];
        new PerfEventHeader(PerfRecordType.TimeConv, 0, (ushort)r.Length).Write(r);
        int o = PerfEventHeader.ByteSize;
        U64(r, ref o, timeShift); U64(r, ref o, timeMult); U64(r, ref o, timeZero);
        U64(r, ref o, timeCycles); U64(r, ref o, timeMask);
        r[o] = capUserTimeZero ? (byte)1 : (byte)0;
        r[o + 1] = capUserTimeShort ? (byte)1 : (byte)0;
        return r;
    }

    /// <summary>PERF_RECORD_FINISHED_ROUND: no record before it sorts after any record written later.</summary>
    public static byte[] FinishedRound()
    {
        var r = new byte[PerfEventHeader.ByteSize];
        new PerfEventHeader(PerfRecordType.FinishedRound, 0, PerfEventHeader.ByteSize).Write(r);
        return r;
    }

    private byte[] Start(PerfRecordType type, ushort misc, int bodySize, out int offset)
    {
        int size = PerfEventHeader.ByteSize + bodySize + _trailerSize;
        if (size > ushort.MaxValue) throw new ArgumentException($"record of {size} bytes exceeds the 64 KiB record limit");
        var r = new byte[size];
        new PerfEventHeader(type, misc, (ushort)size).Write(r);
        offset = PerfEventHeader.ByteSize;
        return r;
    }

    private void Finish(byte[] r, int offset, in SampleIdTrailer trailer)
    {
        int written = trailer.Write(r.AsSpan(offset), SampleIdType);
        if (offset + written != r.Length) throw new InvalidOperationException("record size mismatch");
    }

    /// <summary>NUL-terminated and zero-padded; the destination is sized for it by the caller.</summary>
    private static void WriteString(Span<byte> destination, string s) => Encoding.UTF8.GetBytes(s, destination[..^1]);

    private static int Align8(int n) => (n + 7) & ~7;
    private static void U32(byte[] d, ref int o, uint v) { BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(o), v); o += 4; }
    private static void U64(byte[] d, ref int o, ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(o), v); o += 8; }
}
