using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// Recordings of the sample programs, by our recorder and by perf (file, pipe, zstd): our script must print the
/// same samples as perf script, field for field, symbols included.
/// </summary>
public sealed class RoundTripTests(ITestOutputHelper log) : IDisposable
{
    private const string Fields = "comm,pid,tid,cpu,time,period,event,ip,sym,dso";
    /// <summary>perf record of one command samples without CPU, and perf script refuses to print a missing field.</summary>
    private const string PerfFields = "comm,pid,tid,time,period,event,ip,sym,dso";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-reading-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string File_(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void Our_recording_reads_back_as_perf_script_reads_it()
    {
        string data = File_("ours.data");
        var rec = Tool.Run(["record", "-q", "-e", "cpu-clock", "-o", data, "--", SampleBinaries.CpuBound, "300"]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        AssertSameSamples(data, Tool.Run(["script", "-F", Fields, "-i", data]));
        // Every record we wrote comes back, and the counts are perf's.
        var (counts, error) = TestDataFiles.ReadCounts(data);
        Assert.Null(error);
        Assert.Equal(TestDataFiles.PerfStats(data)!.OrderBy(kv => kv.Key), counts.OrderBy(kv => kv.Key));
    }

    [Theory]
    [InlineData("file")]
    [InlineData("zstd")]
    [InlineData("callchain")]
    public void Perf_recordings_give_the_same_samples_through_our_reader(string mode)
    {
        string data = File_(mode + ".data");
        string[] extra = mode switch { "zstd" => ["-z"], "callchain" => ["-g"], _ => [] };
        var rec = Perf.Run(["record", "-q", "-e", "cpu-clock", "-F", "2000", .. extra, "-o", data, SampleBinaries.CpuBound, "300"]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        if (mode == "zstd")
        {
            using var reader = PerfDataReader.Open(data);
            while (reader.TryRead(out _)) { }
            Assert.True(reader.Count(PerfRecordType.Compressed) > 0, "perf -z wrote no COMPRESSED records");
        }
        AssertSameSamples(data, Tool.Run(["script", "-F", PerfFields, "-i", data]), PerfFields);
    }

    [Fact]
    public void Perf_pipe_mode_read_from_stdin_gives_the_same_samples()
    {
        string data = File_("pipe.data");
        var rec = ProcessRunner.Run("bash", ["-c", $"'{Perf.Executable}' record -q -e cpu-clock -F 2000 -o - '{SampleBinaries.CpuBound}' 300 > '{data}'"], TimeSpan.FromSeconds(60));
        Assert.True(rec.ExitCode == 0, rec.ToString());
        using (var reader = PerfDataReader.Open(data)) Assert.True(reader.IsPipe);
        var ours = ProcessRunner.Run("bash", ["-c", $"cat '{data}' | dotnet '{Tool.DllPath}' script -F {PerfFields} -i -"], TimeSpan.FromSeconds(60));
        AssertSameSamples(data, ours, PerfFields);
    }

    private void AssertSameSamples(string data, ProcessResult ours, string fields = Fields)
    {
        Assert.True(ours.ExitCode == 0, ours.ToString());
        var perf = Perf.Run("script", "-G", "-F", fields, "-i", data);
        Assert.True(perf.ExitCode == 0, perf.ToString());
        var expected = TestDataFiles.Normalize(perf.Stdout);
        var actual = TestDataFiles.Normalize(ours.Stdout);
        log.WriteLine($"perf {expected.Count} samples, ours {actual.Count}; first: {actual.FirstOrDefault()}");
        Assert.True(expected.Count > 50, $"too few samples to compare: {expected.Count}");
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(expected[i] == actual[i], $"sample {i} differs:\nperf: {expected[i]}\nours: {actual[i]}");
    }
}
