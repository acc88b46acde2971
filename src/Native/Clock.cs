using System.Diagnostics;

namespace DotnetPtrace.Native;

/// <summary>The monotonic clock perf's timestamps follow closely (the kernel's local_clock), in nanoseconds.</summary>
public static class Clock
{
    /// <summary>CLOCK_MONOTONIC in ns: Stopwatch reads it on Linux, at a frequency of 1 GHz.</summary>
    public static ulong MonotonicNanoseconds()
    {
        long ticks = Stopwatch.GetTimestamp();
        return Stopwatch.Frequency == 1_000_000_000 ? (ulong)ticks : (ulong)((UInt128)(ulong)ticks * 1_000_000_000 / (ulong)Stopwatch.Frequency);
    }
}
