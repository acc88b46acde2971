namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>What the filter does when the traced code reaches its range (the kernel's three actions).</summary>
public enum AddressFilterAction
{
    /// <summary>Trace only inside the range.</summary>
    Filter,
    /// <summary>Start tracing at the address (or on entering the range).</summary>
    Start,
    /// <summary>Stop tracing at the address (or on entering the range; perf's `tracestop`).</summary>
    Stop,
}

/// <summary>A start or an end of a filter as written: an address/size number, or a symbol with perf's #n / #g choice.</summary>
/// <param name="SymbolIndex">-1: the only symbol of that name; 0 (#g): the global one; n &gt; 0 (#n): the n-th one in address order.</param>
public readonly record struct FilterOperand(ulong Number, string? Symbol, int SymbolIndex = -1)
{
    public bool IsSymbol => Symbol is not null;
    public override string ToString() => Symbol is null ? $"0x{Number:x}" : SymbolIndex switch { < 0 => Symbol, 0 => $"{Symbol} #g", var n => $"{Symbol} #{n}" };
}

/// <summary>
/// One filter of perf's --filter syntax, parsed but not resolved:
/// <c>filter|start|stop|tracestop START [/ END_OR_SIZE] [@ FILE]</c>. <paramref name="Range"/> is set for `filter`,
/// `tracestop` and any filter with a '/' part.
/// </summary>
public sealed record AddressFilterSpec(string Text, AddressFilterAction Action, bool Range, FilterOperand From, FilterOperand? To, string? File);
