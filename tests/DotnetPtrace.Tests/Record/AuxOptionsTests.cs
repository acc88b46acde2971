using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Native.Events;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Record;

/// <summary>
/// The AUX options of `record` on this machine (no intel_pt PMU): --snapshot, --filter and --per-thread are parsed and
/// refused with one clear line when they cannot apply; Intel PT itself fails fast with the reason; --per-thread records
/// software events with one ring per task.
/// </summary>
[Collection("live recording")]
public class AuxOptionsTests(ITestOutputHelper output) : IClassFixture<ScratchDirectory>
{
    private readonly ScratchDirectory _scratch = new();

    private (ProcessResult Result, string File) Record(params string[] args)
    {
        string file = _scratch.File($"aux-{Guid.NewGuid():N}.data");
        var r = Tool.Run(["record", "-o", file, .. args]);
        output.WriteLine(r.ToString());
        return (r, file);
    }

    private static string[] Lines(ProcessResult r) => r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Theory]
    [InlineData("-e", "intel_pt//u", "--", "/bin/true")]
    [InlineData("-e", "intel_pt//", "--snapshot", "--", "/bin/true")]
    [InlineData("-e", "intel_pt//u", "--per-thread", "--filter", "filter main @ /bin/true", "--", "/bin/true")]
    public void Intel_pt_fails_fast_with_the_reason_when_there_is_none(params string[] args)
    {
        if (Directory.Exists("/sys/bus/event_source/devices/intel_pt")) { output.WriteLine("skipped: this machine has Intel PT"); return; }
        var (r, file) = Record(args);
        Assert.NotEqual(0, r.ExitCode);
        Assert.True(r.Elapsed < TimeSpan.FromSeconds(3), $"took {r.Elapsed}");
        string line = Assert.Single(Lines(r));
        Assert.Contains("no Intel PT here", line);
        Assert.Contains(IntelPtAvailability.WhyMissing(), line);
        Assert.False(File.Exists(file));
    }

    [Theory]
    [InlineData("--snapshot needs an AUX area event: -e intel_pt//", "-e", "task-clock", "--snapshot", "--", "/bin/true")]
    [InlineData("--snapshot needs an AUX area event", "-e", "task-clock", "-S", "--", "/bin/true")]
    [InlineData("--snapshot 12Q: expected a size in bytes", "-e", "task-clock", "--snapshot=12Q", "--", "/bin/true")]
    [InlineData("--filter sets Intel PT address filters: it needs -e intel_pt//", "-e", "task-clock", "--filter", "filter main @ /bin/true", "--", "/bin/true")]
    [InlineData("--per-thread follows tasks: it cannot be used with -a", "--per-thread", "-a", "-e", "task-clock")]
    [InlineData("--snapshot and --filter are for hardware Intel PT", "--soft-pt", "--snapshot", "--", "/bin/true")]
    public void Options_that_cannot_apply_get_one_clear_line(string message, params string[] args)
    {
        var (r, file) = Record(args);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(message, Lines(r)[0]);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void Per_thread_mode_records_one_ring_per_task_and_perf_reads_the_file()
    {
        // Per CPU each event is opened once per online CPU (two ids per attr here); per thread once for the task.
        Assert.True(Environment.ProcessorCount > 1, "needs two CPUs to tell the modes apart");
        var (r, file) = Record("--per-thread", "-e", "task-clock", "-c", "100000", "--", SampleBinaries.CpuBound, "300");
        Assert.Equal(0, r.ExitCode);
        var script = Perf.Run("script", "-i", file, "-F", "comm,tid,cpu,event");
        Perf.AssertClean(script, allowLost: false);
        var samples = script.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(samples.Length > 10, $"{samples.Length} samples");
        Assert.All(samples, s => Assert.Contains("cpu_bound", s));
        using var reader = PerfDataReader.Open(file);
        while (reader.TryRead(out _)) { }
        Assert.Null(reader.Error);
        Assert.All(reader.Attrs.Attrs, a => Assert.False(a.Attr.Has(AttrFlags.Inherit), "per-thread events must not inherit"));
        Assert.All(reader.Attrs.Attrs, a => Assert.Single(a.Ids));
    }
}
