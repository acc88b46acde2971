using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Tests.PerfData;

/// <summary>The background writer bounds what waits for the disk in bytes, not only in chunks.</summary>
public class WriterByteBudgetTests
{
    /// <summary>Holds the writer thread inside the first record until released.</summary>
    private sealed class Gate : IRecordObserver
    {
        public readonly ManualResetEventSlim Entered = new(), Release = new();
        public void OnRecord(in PerfEventHeader header, ReadOnlySpan<byte> record)
        {
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task A_post_past_the_byte_budget_waits_for_the_writer_and_a_huge_chunk_alone_passes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"budget-{Guid.NewGuid():N}.data");
        try
        {
            using var file = PerfDataWriter.CreateFile(path);
            var gate = new Gate();
            var background = new BackgroundPerfDataWriter(new PerfDataWriter(file, TestRecords.Attrs()), [gate], capacityInChunks: 64, maxQueuedBytes: 1000);
            byte[] record = RecordBuilder.FinishedRound();   // 8 bytes
            byte[] Chunk(int records)
            {
                var buffer = background.RentBuffer(records * 8);
                for (int i = 0; i < records; i++) record.CopyTo(buffer, i * 8);
                return buffer;
            }
            background.Post(new RecordChunk(Chunk(75), 600));
            Assert.True(gate.Entered.Wait(TimeSpan.FromSeconds(5)), "the writer did not start");
            Assert.Equal(600, background.QueuedBytes);   // held by the writer, still counted until written

            Assert.False(background.TryPost(new RecordChunk(Chunk(75), 600)));   // 1200 > 1000
            var waiting = Task.Run(() => background.Post(new RecordChunk(Chunk(75), 600)));
            Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(300)));   // still waiting for room
            gate.Release.Set();
            Assert.Same(waiting, await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(5))));
            await waiting;

            // A chunk larger than the whole budget is not stuck forever: it goes alone. Let the writer empty the
            // queue first so this post needs no wait and the count below is about the one post that had to.
            Assert.True(SpinWait.SpinUntil(() => background.QueuedBytes == 0, TimeSpan.FromSeconds(5)), "the writer did not drain");
            background.Post(new RecordChunk(Chunk(250), 2000));
            background.Finish(new PerfDataFeatures());
            Assert.Equal(0, background.QueuedBytes);
            Assert.Equal(600 + 600 + 2000, background.Writer.DataSize);
            Assert.Equal(1, background.PostsThatWaited);
        }
        finally { File.Delete(path); }
    }
}
