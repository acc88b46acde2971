namespace DotnetPtrace.Native.Events;

/// <summary>
/// An event string (<c>-e</c>) that cannot be turned into a perf_event_attr. The message is one line meant for the
/// terminal: what is wrong, and the closest known names when there are any.
/// </summary>
public sealed class EventParseException(string message) : Exception(message);
