using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Native.Events;

/// <summary>Reads from tracefs what perf.data's TRACING_DATA feature must carry for the tracepoints recorded.</summary>
public static class TracingDataCollector
{
    /// <summary>Null when no tracepoint was recorded; throws when tracefs cannot be read, since perf would reject the file.</summary>
    public static byte[]? Collect(Tracefs tracefs, IEnumerable<EventSpec> events)
    {
        var tracepoints = events.Where(e => e.IsTracepoint).ToList();
        if (tracepoints.Count == 0) return null;
        string root = tracefs.Root ?? throw new PerfException($"cannot read tracepoint formats: {tracefs.UnavailableReason}");
        var systems = tracepoints
            .GroupBy(e => e.TracepointSystem!)
            .Select(g => new TracepointFormats(g.Key, g.Select(e => e.TracepointName!).Distinct()
                .Select(name => File.ReadAllBytes(tracefs.FormatPath(g.Key, name) ?? throw new PerfException($"no format file for {g.Key}:{name}")))
                .ToList()))
            .ToList();
        return TracingDataEncoder.Encode(
            File.ReadAllBytes(Path.Combine(root, "events", "header_page")),
            File.ReadAllBytes(Path.Combine(root, "events", "header_event")),
            systems, Environment.SystemPageSize);
    }
}
