namespace DotnetPtrace.Native.Events;

/// <summary>A CPU list (<c>-C 0-3,7</c>) that is malformed or names CPUs that are not online. One-line message.</summary>
public sealed class CpuListException(string message) : Exception(message);
