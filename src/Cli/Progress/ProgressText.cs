using System.Globalization;

namespace DotnetPtrace.Cli.Progress;

/// <summary>
/// The text of a progress line, as cli-conventions.md shows it: <c>[00:00:05] decoding: 48.0 MB of 120 MB (9.6 MB/s)</c>.
/// Pure, so it can be tested without a terminal or a clock. The rate is the average since the start: it does not jump
/// about, and at 1 Hz a user reads it as "how fast is this going".
/// </summary>
public static class ProgressText
{
    /// <summary>
    /// <paramref name="total"/> of 0 or less: unknown (a pipe), only what was done is shown. <paramref name="detail"/>,
    /// when given, follows after a comma (counts of lost data, the Ctrl-C hint).
    /// </summary>
    public static string Format(TimeSpan elapsed, string activity, long done, long total, string? detail = null)
    {
        var text = new System.Text.StringBuilder(80);
        long seconds = (long)elapsed.TotalSeconds;
        text.Append(CultureInfo.InvariantCulture, $"[{seconds / 3600:D2}:{seconds / 60 % 60:D2}:{seconds % 60:D2}] {activity}: {Size(done)}");
        if (total > 0) text.Append(" of ").Append(Size(total));
        // Under a tenth of a second the average says nothing yet.
        if (elapsed.TotalSeconds >= 0.1) text.Append(" (").Append(Size((long)(done / elapsed.TotalSeconds))).Append("/s)");
        if (!string.IsNullOrEmpty(detail)) text.Append(", ").Append(detail);
        return text.ToString();
    }

    /// <summary>Bytes in binary units (as perf's "MB"): three significant figures, "512 B", "9.6 MB", "120 MB", "1.5 GB".</summary>
    public static string Size(long bytes)
    {
        if (bytes < 0) bytes = 0;
        if (bytes < 1024) return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        ReadOnlySpan<string> units = ["KB", "MB", "GB", "TB"];
        double value = bytes / 1024.0;
        int unit = 0;
        // 1023.6 KB would print as "1024 KB": move to the next unit once the rounded value reaches 1024.
        while (unit < units.Length - 1 && value >= 1023.5)
        {
            value /= 1024;
            unit++;
        }
        string number = value < 99.95 ? value.ToString("F1", CultureInfo.InvariantCulture) : value.ToString("F0", CultureInfo.InvariantCulture);
        return number + " " + units[unit];
    }
}
