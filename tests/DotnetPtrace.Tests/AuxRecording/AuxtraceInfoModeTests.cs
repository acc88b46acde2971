using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Events;
using DotnetPtrace.Tests.Events;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.AuxRecording;

/// <summary>
/// The AUXTRACE_INFO `record` writes for --snapshot, --per-thread and --filter (built by IntelPtInfoFactory from the
/// fake intel_pt PMU), as Linux perf reads it back: perf script -D prints its snapshot, per-cpu and filter fields.
/// </summary>
public sealed class AuxtraceInfoModeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-auxinfo-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(true, false, "filter 0x112e/0x9@/usr/bin/prog,stop 0x1200@/usr/bin/prog")]
    [InlineData(false, true, "")]
    public void Perf_reads_the_mode_flags_and_the_filter(bool snapshot, bool perCpu, string filter)
    {
        if (!File.Exists(Perf.Executable)) { output.WriteLine("skipped: Linux perf is not installed"); return; }
        var pmu = FakeSysfs.Pmus().Find("intel_pt")!;
        var info = IntelPtInfoFactory.Create(pmu, new TimeConversion(0, 1, 0, 0, 0, true, false), snapshot, perCpu,
            haveSchedSwitch: perCpu ? 2UL : 0UL, filter, tscCtc: (2, 100));
        var attr = new PerfEventAttr
        {
            Type = pmu.Type, Size = PerfEventAttr.SizeVer7, Config = 0x300e601, SamplePeriod = 1,
            SampleType = SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Identifier,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.ExcludeKernel,
        };
        string path = Path.Combine(_dir, "info.data");
        using (var file = PerfDataWriter.CreateFile(path))
        {
            var writer = new PerfDataWriter(file, [new EventAttrEntry(attr, [1], "intel_pt//u")]);
            writer.WriteData(info.ToRecord());
            writer.Finish(new PerfDataFeatures { CpuId = "GenuineIntel,6,85,7", NrCpusOnline = 1, NrCpusAvailable = 1, Arch = "x86_64" });
        }
        var r = Perf.Run("script", "-D", "-i", path);
        output.WriteLine(r.Stdout);
        Assert.Contains($"  Snapshot mode       {(snapshot ? 1 : 0)}\n", r.Stdout);
        Assert.Contains($"  Per-cpu maps        {(perCpu ? 1 : 0)}\n", r.Stdout);
        Assert.Contains($"  Filter string len.  {filter.Length}\n", r.Stdout);
        if (filter.Length > 0) Assert.Contains($"  Filter string       {filter}\n", r.Stdout);
    }
}
