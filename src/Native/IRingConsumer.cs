namespace DotnetPtrace.Native;

/// <summary>
/// Receives the bytes a drain found: whole records, in ring order, as at most two spans because the region may
/// wrap the end of the ring (<paramref name="second"/> is empty when it does not). The spans point into the
/// mapped ring and are valid only during the call; the tail is advanced after it returns.
/// </summary>
public interface IRingConsumer
{
    void Consume(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second);
}
