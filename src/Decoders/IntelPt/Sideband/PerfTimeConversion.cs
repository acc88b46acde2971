using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>
/// TSC to perf time (the clock of the sideband records' sample_id TIME), as perf's tsc_to_perf_time computes it from
/// the values the kernel put in the user page: <c>zero + (tsc >> shift) * mult + (((tsc &amp; mask) * mult) >> shift)</c>,
/// with the short-counter fold-in of TIME_CONV's time_cycles/time_mask when cap_user_time_short is set.
/// </summary>
public readonly record struct PerfTimeConversion(ushort Shift, uint Mult, ulong Zero, bool Valid, bool Short = false, ulong Cycles = 0, ulong Mask = 0)
{
    /// <summary>No conversion: the trace is decoded timeless.</summary>
    public static PerfTimeConversion None => default;

    /// <summary>The conversion AUXTRACE_INFO carries (valid only when the recording said cap_user_time_zero).</summary>
    public static PerfTimeConversion From(IntelPtAuxtraceInfo info) =>
        new(info.TimeShift, info.TimeMult, info.TimeZero, info.CapUserTimeZero && info.TimeMult != 0 && info.TimeShift < 64);

    /// <summary>
    /// The short-counter values of a TIME_CONV record body ({shift, mult, zero, time_cycles, time_mask,
    /// u8 cap_user_time_zero, u8 cap_user_time_short}), when it has them and says the counter is short.
    /// </summary>
    public static bool TryReadShortCounter(ReadOnlySpan<byte> timeConv, out ulong cycles, out ulong mask)
    {
        bool isShort = timeConv.Length >= 50 && timeConv[49] != 0;
        cycles = isShort ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(timeConv[32..]) : 0;
        mask = isShort ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(timeConv[40..]) : 0;
        return isShort;
    }

    /// <summary>Adds TIME_CONV's short-counter values (perf 5.10+ writes them; older files have none).</summary>
    public PerfTimeConversion WithShortCounter(ulong cycles, ulong mask) => this with { Short = true, Cycles = cycles, Mask = mask };

    public ulong ToPerfTime(ulong tsc)
    {
        if (Short) tsc = Cycles + ((tsc - Cycles) & Mask);
        ulong quot = tsc >> Shift;
        ulong rem = Shift == 0 ? 0 : tsc & ((1UL << Shift) - 1);
        return unchecked(Zero + quot * Mult + ((rem * Mult) >> Shift));
    }
}
