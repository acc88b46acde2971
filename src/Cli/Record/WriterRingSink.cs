using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Native;

namespace DotnetPtrace.Cli.Record;

/// <summary>
/// Collects what one poll pass drains from every ring into a single pooled buffer, ends it with FINISHED_ROUND, and
/// posts it to the background writer as one chunk: one copy, one queue operation and one writer wake-up per pass
/// instead of one per ring plus one for the round marker.
/// </summary>
public sealed class WriterRingSink(BackgroundPerfDataWriter writer, long ringBytesTotal) : IRingConsumer
{
    private static readonly byte[] FinishedRound = RecordBuilder.FinishedRound();

    // A pass can never hold more than every ring full, plus the round marker.
    private readonly int _capacity = (int)Math.Min(int.MaxValue, ringBytesTotal + FinishedRound.Length);
    private byte[]? _pending;
    private int _length;

    public void Consume(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        _pending ??= writer.RentBuffer(_capacity);
        first.CopyTo(_pending.AsSpan(_length));
        _length += first.Length;
        second.CopyTo(_pending.AsSpan(_length));
        _length += second.Length;
    }

    /// <summary>Ends the pass: no record drained before this point sorts after one drained later.</summary>
    public void CompleteRound()
    {
        if (_pending is null) return;
        FinishedRound.CopyTo(_pending.AsSpan(_length));
        writer.Post(new RecordChunk(_pending, _length + FinishedRound.Length));
        _pending = null;
        _length = 0;
    }
}
