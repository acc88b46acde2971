using System.Diagnostics;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// Real files cut at every 97th byte and with random bit flips: the reader always ends (each case has a time
/// bound), never throws, returns every record that lies wholly before the damage, and names an offset.
/// </summary>
public sealed class DamagedInputTests(ITestOutputHelper log)
{
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(5);

    // A file-mode file with several record types, a compressed pipe file whose records span chunks, and Intel PT
    // (AUXTRACE payloads to skip).
    public static TheoryData<string> Files => ["perf.data.branch-4.14", "mstange.fibo.compressed2.pipe.data", "perf.data.intel_pt-4.14"];

    private readonly record struct Seen(long Offset, long Inner, PerfRecordType Type, long End);

    [Theory]
    [MemberData(nameof(Files))]
    public void Truncation_at_every_97th_byte_returns_every_whole_record_before_the_cut(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        byte[] file = File.ReadAllBytes(TestDataFiles.PathOf(name));
        var (full, fullError, fullWarnings) = Read(file);
        Assert.Null(fullError);
        Assert.Empty(fullWarnings);
        int cases = 0;
        for (int cut = 0; cut < file.Length; cut += 97, cases++)
        {
            var (got, error, warnings) = Read(file.AsSpan(0, cut).ToArray());
            // What was returned is exactly the start of what the whole file gives...
            Assert.True(got.Count <= full.Count, $"cut {cut}: more records than the whole file");
            for (int i = 0; i < got.Count; i++) Assert.True(got[i] == full[i], $"cut {cut}: record {i} differs: {got[i]} vs {full[i]}");
            // ...and includes every record that ended before the cut (only a file-mode header cut loses them all:
            // without the header nothing can be read).
            int whole = full.Count(r => r.End <= cut);
            bool headerIntact = cut >= HeaderEnd(file, full);
            if (headerIntact) Assert.True(got.Count >= whole, $"cut {cut}: {got.Count} records returned, {whole} lay before the cut");
            // A cut that is not exactly at the end of a record is damage, and it is reported with an offset inside the input.
            // A file-mode cut after the records lands in the header features: reported as a warning instead.
            ReadError? reported = error ?? warnings.FirstOrDefault();
            if (!full.Any(r => r.End == cut) || !headerIntact)
            {
                Assert.True(reported is not null, $"cut {cut}: no error reported");
                Assert.InRange(reported!.Offset, 0, cut);
            }
        }
        log.WriteLine($"{name}: {cases} cuts, {full.Count} records");
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Random_bit_flips_in_the_data_never_crash_or_hang_and_keep_the_records_before_the_flip(string name)
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        byte[] file = File.ReadAllBytes(TestDataFiles.PathOf(name));
        var (full, _, _) = Read(file);
        long dataStart = HeaderEnd(file, full);
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) & 0x7fff_ffff ^ 1234);
        int errors = 0;
        for (int c = 0; c < 150; c++)
        {
            byte[] copy = (byte[])file.Clone();
            int flips = 1 + random.Next(3);
            long first = long.MaxValue;
            for (int f = 0; f < flips; f++)
            {
                int at = (int)(dataStart + random.NextInt64(file.Length - dataStart));
                copy[at] ^= (byte)(1 << random.Next(8));
                first = Math.Min(first, at);
            }
            var (got, error, _) = Read(copy);
            if (error is not null) errors++;
            // Records wholly before the first flipped byte are untouched and must come back unchanged.
            var before = full.Where(r => r.End <= first).ToList();
            Assert.True(got.Count >= before.Count, $"case {c}: flip at {first}: {got.Count} records, {before.Count} lay before it");
            for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], got[i]);
        }
        log.WriteLine($"{name}: 150 cases, {errors} ended with an error");
    }

    [Fact]
    public void Dump_of_a_truncated_file_prints_the_records_then_one_error_line_with_the_offset()
    {
        if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return; }
        byte[] file = File.ReadAllBytes(TestDataFiles.PathOf("perf.data.piped.lost_samples-4.4"));
        string cut = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-cut-{Environment.ProcessId}.data");
        File.WriteAllBytes(cut, file[..(file.Length / 2 + 3)]);
        try
        {
            var (full, _, _) = Read(file);
            var r = Tool.Run(["dump", "-i", cut]);
            Assert.Equal(3, r.ExitCode);
            string[] err = r.Stderr.Trim().Split('\n');
            Assert.Single(err);
            Assert.Matches(@"at offset 0x[0-9a-f]+: ", err[0]);
            int expected = full.Count(x => x.End <= file.Length / 2 + 3);
            Assert.Equal(expected, r.Stdout.Split('\n').Count(l => l.StartsWith("0x", StringComparison.Ordinal)));
        }
        finally { File.Delete(cut); }
    }

    /// <summary>Where the records start: the end of the pipe header, or the data offset of a file-mode header.</summary>
    private static long HeaderEnd(byte[] file, List<Seen> full) => full.Count > 0 ? full[0].Offset : 16;

    private static (List<Seen> Records, ReadError? Error, List<ReadError> Warnings) Read(byte[] bytes)
    {
        var records = new List<Seen>();
        ReadError? error = null;
        List<ReadError> warnings = [];
        var sw = Stopwatch.StartNew();
        var task = Task.Run(() =>
        {
            using var reader = PerfDataReader.Open(new MemoryStream(bytes, writable: false), "test");
            while (reader.TryRead(out PerfRecord r))
            {
                long end = r.DecompressedOffset >= 0 ? -1 : r.Offset + r.Header.Size + r.AuxPayloadSize;
                records.Add(new Seen(r.Offset, r.DecompressedOffset, r.Type, end));
            }
            error = reader.Error;
            warnings = reader.Warnings;
        });
        Assert.True(task.Wait(PerCase), $"reader did not finish in {PerCase} ({bytes.Length} bytes)");
        // Records inside compressed data end where their compressed record ends.
        for (int i = 0; i < records.Count; i++)
        {
            if (records[i].End >= 0) continue;
            long outer = records.FindLast(x => x.Offset == records[i].Offset && x.Inner < 0).End;
            records[i] = records[i] with { End = outer };
        }
        return (records, error, warnings);
    }
}
