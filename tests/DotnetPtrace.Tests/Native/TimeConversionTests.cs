using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Native;

/// <summary>
/// The user page's time conversion as we read it, against perf: perf writes PERF_RECORD_TIME_CONV exactly when the
/// kernel sets cap_user_time_zero, with the same shift, multiplier and zero.
/// </summary>
public class TimeConversionTests
{
    [Fact]
    public void Our_reading_agrees_with_perfs_time_conv()
    {
        var attr = new PerfEventAttr { Type = (uint)PerfType.Software, Config = (ulong)SoftwareEvent.CpuClock, SamplePeriod = 1_000_000, Flags = AttrFlags.Disabled };
        using var fd = PerfEvent.Open(ref attr, 0, -1, null, "cpu-clock");
        using var ring = DataRing.Map(fd, -1, 1);
        var ours = ring.ReadTimeConversion();

        string file = Path.Combine(Path.GetTempPath(), $"tc-{Guid.NewGuid():N}.data");
        try
        {
            var record = Perf.Run("record", "-q", "-e", "cpu-clock", "-o", file, "--", "/bin/true");
            Assert.True(record.ExitCode == 0, record.ToString());
            string dump = Perf.Run("script", "-D", "-i", file).Stdout;
            var shift = Regex.Match(dump, @"Time Shift\s+(\d+)");
            Assert.Equal(ours.CapUserTimeZero, shift.Success);
            if (shift.Success)
            {
                Assert.Equal(ours.TimeShift, ushort.Parse(shift.Groups[1].Value));
                Assert.Equal(ours.TimeMult, uint.Parse(Regex.Match(dump, @"Time Muliplier\s+(\d+)").Groups[1].Value));
                Assert.Equal(ours.TimeZero, ulong.Parse(Regex.Match(dump, @"Time Zero\s+(\d+)").Groups[1].Value));
            }
        }
        finally { File.Delete(file); }
    }

    /// <summary>
    /// TscAt inverts perf's tsc_to_perf_time (tools/perf/util/tsc.c: quot = tsc >> shift, rem = tsc & mask,
    /// time = zero + quot * mult + (rem * mult >> shift)), here with the Skylake recording's values from
    /// ../shared/testdata/README.md, whose time_zero is "negative".
    /// </summary>
    [Theory]
    [InlineData(0x1234_5678_9abcUL)]
    [InlineData(0x7_0000_0000_0001UL)]
    [InlineData(18_300_000_000_000UL)]
    public void TscAt_inverts_perfs_tsc_to_perf_time(ulong tsc)
    {
        var conversion = new TimeConversion(31, 1789569706, 18446744041015200657, 0, 0, CapUserTimeZero: true, CapUserTimeShort: false);
        ulong quot = tsc >> 31, rem = tsc & ((1UL << 31) - 1);
        ulong time = unchecked(conversion.TimeZero + quot * conversion.TimeMult + ((rem * conversion.TimeMult) >> 31));
        // One nanosecond is about 1.2 ticks at this multiplier: the inverse lands within two ticks.
        Assert.InRange((long)(conversion.TscAt(time) - tsc), -2, 2);
        Assert.Equal(0UL, (conversion with { CapUserTimeZero = false }).TscAt(time));
    }
}
