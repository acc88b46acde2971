using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// PERF_RECORD_AUXTRACE_INFO for Intel PT (type 1): what a decoder must know about the recording that the trace
/// bytes do not say. Layout as perf's arch/x86/util/intel-pt.c intel_pt_info_fill writes it: header, u32 type,
/// u32 reserved, then u64 priv[]: PMU type, time shift/mult/zero, cap_user_time_zero, the config bit masks of
/// tsc/noretcomp, have_sched_switch, snapshot, per-cpu mmaps, mtc bit, mtc period bits, TSC:CTC ratio (CPUID 0x15),
/// cyc bit, max non-turbo ratio, filter string length, then the NUL-terminated filter padded to 8.
/// </summary>
public sealed record IntelPtAuxtraceInfo
{
    public const uint AuxtraceTypeIntelPt = 1;

    public uint PmuType { get; init; }
    public ushort TimeShift { get; init; }
    public uint TimeMult { get; init; }
    public ulong TimeZero { get; init; }
    /// <summary>Whether TSC can be converted to perf time (the user page's cap_user_time_zero).</summary>
    public bool CapUserTimeZero { get; init; }
    public ulong TscBit { get; init; }
    public ulong NoRetCompBit { get; init; }
    /// <summary>0 none, 1 sched_switch tracepoint, 2 PERF_RECORD_SWITCH, 3 PERF_RECORD_SWITCH_CPU_WIDE.</summary>
    public ulong HaveSchedSwitch { get; init; }
    public bool Snapshot { get; init; }
    public bool PerCpuMmaps { get; init; }
    public ulong MtcBit { get; init; }
    public ulong MtcFreqBits { get; init; }
    public uint TscCtcNumerator { get; init; }
    public uint TscCtcDenominator { get; init; }
    public ulong CycBit { get; init; }
    public ulong MaxNonTurboRatio { get; init; }
    /// <summary>The address filter given to PERF_EVENT_IOC_SET_FILTER, or empty.</summary>
    public string Filter { get; init; } = "";

    /// <summary>
    /// Reads an Intel PT AUXTRACE_INFO record (header included); null for another AUX type or a record too short for
    /// the ten words every perf writes. Later fields are read when the record has them, as perf's reader does.
    /// </summary>
    public static IntelPtAuxtraceInfo? TryParse(ReadOnlySpan<byte> record)
    {
        if (record.Length < 16 + 10 * 8 || BinaryPrimitives.ReadUInt32LittleEndian(record[8..]) != AuxtraceTypeIntelPt) return null;
        int words = (record.Length - 16) / 8;
        var priv = new ulong[Math.Max(words, 17)];
        for (int i = 0; i < words; i++) priv[i] = BinaryPrimitives.ReadUInt64LittleEndian(record[(16 + 8 * i)..]);
        ulong P(int i) => priv[i];
        string filter = "";
        if (words > 16 && P(16) is > 0 and var length && 16 + 17 * 8 + (int)length <= record.Length)
            filter = Encoding.UTF8.GetString(record.Slice(16 + 17 * 8, (int)length));
        return new IntelPtAuxtraceInfo
        {
            PmuType = (uint)P(0), TimeShift = (ushort)P(1), TimeMult = (uint)P(2), TimeZero = P(3), CapUserTimeZero = P(4) != 0,
            TscBit = P(5), NoRetCompBit = P(6), HaveSchedSwitch = P(7), Snapshot = P(8) != 0, PerCpuMmaps = P(9) != 0,
            MtcBit = P(10), MtcFreqBits = P(11), TscCtcNumerator = (uint)P(12), TscCtcDenominator = (uint)P(13), CycBit = P(14),
            MaxNonTurboRatio = P(15), Filter = filter,
        };
    }

    /// <summary>The MTC frequency field of an intel_pt config, located by <see cref="MtcFreqBits"/>.</summary>
    public int MtcFreqOf(ulong config) =>
        MtcFreqBits == 0 ? 0 : (int)((config & MtcFreqBits) >> System.Numerics.BitOperations.TrailingZeroCount(MtcFreqBits));

    public byte[] ToRecord()
    {
        byte[] filter = Filter.Length == 0 ? [] : Encoding.UTF8.GetBytes(Filter);
        int filterBytes = filter.Length == 0 ? 0 : (filter.Length + 1 + 7) & ~7;
        ulong[] priv =
        [
            PmuType, TimeShift, TimeMult, TimeZero, CapUserTimeZero ? 1UL : 0UL, TscBit, NoRetCompBit, HaveSchedSwitch,
            Snapshot ? 1UL : 0UL, PerCpuMmaps ? 1UL : 0UL, MtcBit, MtcFreqBits, TscCtcNumerator, TscCtcDenominator,
            CycBit, MaxNonTurboRatio, (ulong)filter.Length,
        ];
        int size = PerfEventHeader.ByteSize + 8 + priv.Length * 8 + filterBytes;
        var record = new byte[size];
        new PerfEventHeader(PerfRecordType.AuxtraceInfo, 0, (ushort)size).Write(record);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), AuxtraceTypeIntelPt);
        for (int i = 0; i < priv.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(16 + 8 * i), priv[i]);
        filter.CopyTo(record.AsSpan(16 + 8 * priv.Length));
        return record;
    }
}
