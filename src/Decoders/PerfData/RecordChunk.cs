namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Whole records copied out of a ring: the first <paramref name="Length"/> bytes of <paramref name="Buffer"/>,
/// which was rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>. Posting a chunk hands the buffer over;
/// the writer thread returns it to the pool once written.
/// </summary>
public readonly record struct RecordChunk(byte[] Buffer, int Length)
{
    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);
}
