using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Cli.Record;

namespace DotnetPtrace.Cli.Trace;

/// <summary>Everything `trace` was asked to do: the record options, plus what to decode and show.</summary>
public sealed record TraceOptions
{
    public required RecordOptions Record { get; init; }
    /// <summary>-o FILE: keep the whole recording as a perf.data as well (null: decode only).</summary>
    public string? KeepFile { get; init; }
    public DecodeFormat Format { get; init; } = DecodeFormat.Calls;
    /// <summary>--top: a table of the hottest functions instead of the flow.</summary>
    public bool Top { get; init; }
    /// <summary>-i FILE or -: decode a perf.data (pipe mode from a pipe) as it arrives instead of recording.</summary>
    public string? Input { get; init; }
    /// <summary>--simulate FILE (hidden): replay a saved PT recording through the simulated AUX producer.</summary>
    public string? Simulate { get; init; }
    /// <summary>--rate BYTES/s for --simulate (0: as fast as possible).</summary>
    public long Rate { get; init; }
    /// <summary>--burst BYTES for --simulate: what the simulated hardware writes at once.</summary>
    public int Burst { get; init; } = 16 << 10;
    /// <summary>--repeat N for --simulate: each stream's trace replayed N times back to back.</summary>
    public int Repeat { get; init; } = 1;
    /// <summary>--show-tid: only this thread's flow (as `decode --tid`).</summary>
    public int? ShowTid { get; init; }
    /// <summary>--stat: the pipeline's figures at the end (bytes, skips, latency, memory).</summary>
    public bool Stat { get; init; }
    /// <summary>--queue SIZE: trace that may wait before the decoder; more is dropped (and reported as skipped).</summary>
    public long QueueBytes { get; init; } = 64L << 20;
    /// <summary>--backlog SIZE: undecoded bytes a stream may hold before it jumps to its newest PSB.</summary>
    public long MaxBacklog { get; init; } = 16L << 20;
    public string? SymFs { get; init; }
}
