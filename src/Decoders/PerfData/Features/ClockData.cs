using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>
/// CLOCK_DATA: u32 version (1), u32 clockid, u64 wall-clock (TOD) time and u64 time of the recording clock, both
/// in nanoseconds and taken at the same moment: the pair that converts sample times to wall-clock time.
/// </summary>
public sealed record ClockData(uint ClockId, ulong WallClockNs, ulong ClockNs)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out ClockData? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        if (c.U32(out uint version))
        {
            if (version != 1) c.FailAt(c.Position - 4, $"unsupported version {version}");
            else if (c.U32(out uint clockId) && c.U64(out ulong tod) && c.U64(out ulong clock)) value = new ClockData(clockId, tod, clock);
        }
        problem = c.Problem ?? default;
        return value is not null;
    }

    /// <summary>clockid_name: the first name perf's table gives the id.</summary>
    public static string ClockName(uint clockId) => clockId switch
    {
        0 => "realtime",
        1 => "monotonic",
        4 => "monotonic_raw",
        7 => "boottime",
        11 => "tai",
        _ => "(not found)",
    };

    /// <summary>print_clock_data: the wall-clock time in the local time zone, as localtime_r and strftime("%F %T") give it.</summary>
    public void Print(StringBuilder sb, TimeZoneInfo zone)
    {
        var inv = CultureInfo.InvariantCulture;
        long todSec = (long)(WallClockNs / 1_000_000_000);
        int todUsec = (int)(WallClockNs % 1_000_000_000 / 1000);
        long clockSec = (long)(ClockNs / 1_000_000_000);
        long clockNsec = (long)(ClockNs % 1_000_000_000);
        string name = ClockName(ClockId);
        string local;
        try
        {
            DateTime t = TimeZoneInfo.ConvertTimeFromUtc(DateTimeOffset.FromUnixTimeSeconds(todSec).UtcDateTime, zone);
            local = string.Create(inv, $"{t:yyyy-MM-dd HH:mm:ss}.{todUsec:D6}");
        }
        catch (ArgumentOutOfRangeException)
        {
            local = "<error>";
        }
        sb.Append(inv, $"# clockid: {name} ({ClockId})\n");
        sb.Append(inv, $"# reference time: {local} = {todSec}.{todUsec:D6} (TOD) = {clockSec}.{clockNsec:D9} ({name})\n");
    }
}
