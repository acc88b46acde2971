namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// Why reading stopped early: a one-line message and the file offset where the damage starts (for records inside
/// COMPRESSED data, the offset of the compressed record that held them). Every record before it was returned.
/// </summary>
public sealed record ReadError(long Offset, string Message)
{
    public override string ToString() => $"offset 0x{Offset:x}: {Message}";
}
