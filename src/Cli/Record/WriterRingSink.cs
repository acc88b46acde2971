using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Native;

namespace DotnetPtrace.Cli.Record;

/// <summary>Copies each drained ring region into the background writer's queue: one copy, no per-record work.</summary>
public sealed class WriterRingSink(BackgroundPerfDataWriter writer) : IRingConsumer
{
    public void Consume(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => writer.Post(first, second);
}
