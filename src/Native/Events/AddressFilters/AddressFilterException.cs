namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>An address filter that cannot be used as written; the message is the one line the user sees.</summary>
public sealed class AddressFilterException(string message) : Exception(message);
