using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native.Events;

/// <summary>A software or generic hardware event perf knows by name: its canonical name, attr type and config.</summary>
public sealed record BuiltinEvent(string Name, PerfType Type, ulong Config);
