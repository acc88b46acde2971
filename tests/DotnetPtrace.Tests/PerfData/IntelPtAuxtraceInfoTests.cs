using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Tests.PerfData;

public class IntelPtAuxtraceInfoTests
{
    [Theory]
    [InlineData("")]
    [InlineData("filter main @ /bin/ls")]
    public void ToRecord_and_TryParse_are_inverse(string filter)
    {
        var info = new IntelPtAuxtraceInfo
        {
            PmuType = 8, TimeShift = 31, TimeMult = 1789569706, TimeZero = 18446744041015200657, CapUserTimeZero = true,
            TscBit = 0x400, NoRetCompBit = 0x800, HaveSchedSwitch = 3, Snapshot = true, PerCpuMmaps = true, MtcBit = 0x200,
            MtcFreqBits = 0x3c000, TscCtcNumerator = 100, TscCtcDenominator = 2, CycBit = 2, MaxNonTurboRatio = 12, Filter = filter,
        };
        byte[] record = info.ToRecord();
        Assert.Equal(0, record.Length % 8);
        Assert.Equal(info, IntelPtAuxtraceInfo.TryParse(record));
        Assert.Equal(3, info.MtcFreqOf(0x300e601));   // mtc_period=3 in perf's default config
    }

    [Fact]
    public void Other_aux_types_and_short_records_are_not_intel_pt()
    {
        byte[] record = new IntelPtAuxtraceInfo().ToRecord();
        record[8] = 3;   // PERF_AUXTRACE_CS_ETM
        Assert.Null(IntelPtAuxtraceInfo.TryParse(record));
        Assert.Null(IntelPtAuxtraceInfo.TryParse(new IntelPtAuxtraceInfo().ToRecord().AsSpan(0, 40)));
    }
}
