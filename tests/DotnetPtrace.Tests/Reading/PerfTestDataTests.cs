using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>Every file of ../shared/testdata/perf-data against perf 6.1, and what we read where perf cannot.</summary>
public sealed class PerfTestDataTests(ITestOutputHelper log)
{
    /// <summary>Files perf 6.1 refuses or stops on, with the reason; what we must read from them is asserted below.</summary>
    private static readonly Dictionary<string, string> PerfRefuses = new()
    {
        ["mstange.fibo.compressed2.pipe.data"] = "COMPRESSED2 (type 83) is newer than perf 6.1",
        ["mstange.sleep.compressed2.pipe.data"] = "COMPRESSED2 (type 83) is newer than perf 6.1",
        ["mstange.sleep.compressed.pipe.data"] = "perf 6.1 fails on this pipe file's COMPRESSED records",
        ["mstange.sleep.compressed.data"] = "attrs newer than perf 6.1 (incompatible file format)",
        ["mstange.sleep.compressed2.data"] = "attrs newer than perf 6.1 (incompatible file format)",
        ["mstange.sleep.data"] = "attrs newer than perf 6.1 (incompatible file format)",
        ["perf.data.piped.corrupted.zero_size_sample-3.2"] = "deliberately corrupted: a sample of size 0",
        ["perf.data.piped.intel_pt-4.14"] = "perf 6.1 cannot process the piped Intel PT stream",
    };

    [Theory]
    [MemberData(nameof(TestDataFiles.All), MemberType = typeof(TestDataFiles))]
    public void Record_counts_per_type_equal_perf_report_stats(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        string path = TestDataFiles.PathOf(name);
        var (ours, error) = TestDataFiles.ReadCounts(path);
        log.WriteLine($"{name}: {string.Join(", ", ours.Select(kv => $"{kv.Key} {kv.Value}"))}; error: {error}");
        var perf = TestDataFiles.PerfStats(path);
        if (PerfRefuses.ContainsKey(name))
        {
            Assert.Null(perf);   // if perf learns to read it, it becomes an oracle: move it out of the list
            return;
        }
        Assert.NotNull(perf);
        Assert.Null(error);
        Assert.Equal(perf!.OrderBy(kv => kv.Key), ours.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void Intel_pt_files_expose_both_auxtrace_payloads_with_the_sizes_the_readme_gives()
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        foreach (string name in new[] { "perf.data.intel_pt-4.14", "perf.data.piped.intel_pt-4.14" })
        {
            string path = TestDataFiles.PathOf(name);
            byte[] file = File.ReadAllBytes(path);
            using var reader = PerfDataReader.Open(path);
            var payloads = new List<(long Offset, long Size, int Cpu)>();
            while (reader.TryRead(out PerfRecord r))
            {
                if (r.Type != PerfRecordType.Auxtrace) continue;
                payloads.Add((r.AuxPayloadOffset, r.AuxPayloadSize, BinaryPrimitives.ReadInt32LittleEndian(r.Bytes[40..])));
                // The payload is where the record says: right after the 48-byte record, and starts with a PSB packet.
                Assert.Equal(r.Offset + 48, r.AuxPayloadOffset);
                Assert.Equal(new byte[] { 0x02, 0x82 }, file.AsSpan((int)r.AuxPayloadOffset, 2).ToArray());
            }
            Assert.Null(reader.Error);
            Assert.Equal(2, payloads.Count);
            Assert.Equal(1, reader.Count(PerfRecordType.AuxtraceInfo));
            if (name.Contains("piped")) continue;   // a separate recording; the README describes the file-mode one
            Assert.Equal([(12_240L, 0), (137_728L, 3)], payloads.Select(p => (p.Size, p.Cpu)).OrderBy(p => p.Cpu));
            // The extracted streams in pt-real/ are these payloads byte for byte.
            string extracted = Path.Combine(TestDataFiles.Folder, "..", "pt-real", "skylake-perf-4.14");
            if (Directory.Exists(extracted))
                foreach (var (offset, size, cpu) in payloads)
                    Assert.True(file.AsSpan((int)offset, (int)size).SequenceEqual(File.ReadAllBytes(Path.Combine(extracted, $"aux-cpu{cpu}.pt"))));
        }
    }

    [Fact]
    public void Corrupted_file_returns_every_record_before_the_zero_size_sample_and_names_its_offset()
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        string path = TestDataFiles.PathOf("perf.data.piped.corrupted.zero_size_sample-3.2");
        byte[] file = File.ReadAllBytes(path);
        using var reader = PerfDataReader.Open(path);
        long lastEnd = 16, records = 0;
        while (reader.TryRead(out PerfRecord r)) { Assert.Equal(lastEnd, r.Offset); lastEnd = r.Offset + r.Header.Size; records++; }
        Assert.NotNull(reader.Error);
        log.WriteLine($"{records} records, then {reader.Error}");
        // The error is at the record right after the last good one, and that header really says size 0, type SAMPLE.
        Assert.Equal(lastEnd, reader.Error!.Offset);
        Assert.Equal(9u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)lastEnd)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan((int)lastEnd + 6)));
        Assert.Contains("size 0", reader.Error.Message);
        var cli = Tool.Run(["dump", "-i", path]);
        Assert.Equal(3, cli.ExitCode);
        Assert.Contains($"0x{lastEnd:x}", cli.Stderr);
        Assert.Single(cli.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Files_perf_refuses_are_read_and_compressed_files_match_their_uncompressed_twin()
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        // mstange.sleep.{data,compressed2.data} are recordings of `sleep` (7 samples each); the compressed ones
        // must decompress into complete records: no error, samples that parse with their attr.
        foreach (string name in new[] { "mstange.sleep.data", "mstange.sleep.compressed.data", "mstange.sleep.compressed2.data", "mstange.sleep.compressed.pipe.data", "mstange.fibo.compressed2.pipe.data" })
        {
            using var reader = PerfDataReader.Open(TestDataFiles.PathOf(name));
            int samples = 0, parsed = 0;
            while (reader.TryRead(out PerfRecord r))
            {
                if (r.Type != PerfRecordType.Sample) continue;
                samples++;
                if (r.Attr is { } a && SampleParser.TryParse(r.Bytes, a, out _, out _)) parsed++;
            }
            log.WriteLine($"{name}: {samples} samples, error {reader.Error}");
            Assert.Null(reader.Error);
            Assert.True(samples > 0);
            Assert.Equal(samples, parsed);
        }
        // fibo has records that span COMPRESSED2 chunk boundaries (README): all 547 samples arrive whole.
        using (var fibo = PerfDataReader.Open(TestDataFiles.PathOf("mstange.fibo.compressed2.pipe.data")))
        {
            while (fibo.TryRead(out _)) { }
            Assert.True(fibo.Count(PerfRecordType.Compressed2) > 1);
        }
        // compressed2.pipe ends with perf's own stderr text appended after the last record: that is the damage.
        string piped = TestDataFiles.PathOf("mstange.sleep.compressed2.pipe.data");
        using var p = PerfDataReader.Open(piped);
        while (p.TryRead(out _)) { }
        Assert.NotNull(p.Error);
        Assert.StartsWith("[ perf record:", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(piped).AsSpan((int)p.Error!.Offset, 14)));
        Assert.Equal(7, p.Count(PerfRecordType.Sample));
    }

    [Theory]
    [MemberData(nameof(TestDataFiles.All), MemberType = typeof(TestDataFiles))]
    public void Script_sample_fields_match_perf_script(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        if (PerfRefuses.ContainsKey(name)) return;   // no oracle; covered above
        // perf script turns Intel PT into synthesized samples and error lines that are not records of the file;
        // the PT files' real records are checked against the README above.
        if (name.Contains("intel_pt")) return;
        string path = TestDataFiles.PathOf(name);
        const string fields = "pid,tid,time,period,ip";
        var perf = Perf.Run("script", "-G", "-F", fields, "-i", path);
        Assert.Equal(0, perf.ExitCode);
        var ours = Tool.Run(["script", "-F", fields, "-i", path]);
        Assert.Equal(0, ours.ExitCode);
        var expected = TestDataFiles.Normalize(perf.Stdout);
        var actual = TestDataFiles.Normalize(ours.Stdout);
        log.WriteLine($"{name}: perf {expected.Count} samples, ours {actual.Count}");
        Assert.Equal(expected, actual);
    }
}
