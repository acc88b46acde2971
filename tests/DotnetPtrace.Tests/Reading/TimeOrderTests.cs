using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.PerfData;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// Records written out of time order between FINISHED_ROUNDs (as two CPUs' rings drain) come back in the order
/// perf's ordered_events gives them: perf script's order is the oracle.
/// </summary>
public sealed class TimeOrderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-order-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Samples_come_back_in_perfs_order(bool rounds)
    {
        string path = Path.Combine(_dir, "order.data");
        const int Pid = 4242;
        var random = new Random(7);
        using (FileStream file = PerfDataWriter.CreateFile(path))
        {
            var writer = new PerfDataWriter(file, TestRecords.Attrs());
            writer.WriteData(TestRecords.Comm(Pid, Pid, "order", 1_000));
            // 400 rounds of two interleaved "CPUs", each CPU in order, the two not: enough bytes (> 8 MiB) that
            // the reader's 4 MiB blocks fill, rotate and are reused. Ties in time keep arrival order.
            ulong t = 10_000;
            for (int round = 0; round < 400; round++)
            {
                var batch = new List<byte[]>();
                ulong a = t, b = t + (ulong)random.Next(0, 3000);
                for (int i = 0; i < 200; i++)
                {
                    a += (ulong)random.Next(0, 40);
                    b += (ulong)random.Next(0, 40);
                    batch.Add(TestRecords.Sample(Pid, Pid, 0x400000 + (ulong)i, a, cpu: 0));
                    batch.Add(TestRecords.Sample(Pid, Pid, 0x500000 + (ulong)i, b, cpu: 1));
                }
                foreach (byte[] r in batch.Where((_, i) => i % 2 == 0)) writer.WriteData(r);
                foreach (byte[] r in batch.Where((_, i) => i % 2 == 1)) writer.WriteData(r);
                if (rounds) writer.WriteData(RecordBuilder.FinishedRound());
                t = Math.Max(a, b) - 2000;   // the next round overlaps this one, as a late ring would
            }
            writer.Finish(new PerfDataFeatures());
        }
        Assert.True(new FileInfo(path).Length > 8 << 20);

        // Rounds overlap a little, so a few records arrive older than what perf already flushed: perf warns
        // ("N out of order events recorded") and prints them late; we must put them in the same place.
        var perf = Perf.Run("script", "-i", path, "-F", "time,cpu,ip", "--ns");
        Assert.True(perf.ExitCode == 0, perf.ToString());
        Assert.DoesNotContain("rror", perf.Stderr);
        string[] theirs = perf.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Normalize).ToArray();
        var ours = new List<string>();
        using (var reader = new TimeOrderedReader(PerfDataReader.Open(path)))
            while (reader.TryRead(out PerfRecord r))
                if (r.Type == PerfRecordType.Sample && SampleParser.TryParse(r.Bytes, r.Attr!, out PerfSample s, out _))
                    ours.Add($"[{s.Cpu:D3}] {s.Time / 1_000_000_000}.{s.Time % 1_000_000_000:D9}: {s.Ip:x}");
        Assert.Equal(160_000, ours.Count);
        Assert.Equal(theirs, ours);
    }

    private static string Normalize(string line) => System.Text.RegularExpressions.Regex.Replace(line.Trim(), @"\s+", " ");
}
