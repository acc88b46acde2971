using System.Globalization;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Native;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtEncoder;

/// <summary>
/// The second decoder: the encoded streams of the test programs, in a minimal per-thread perf.data (timeless:
/// the composer of `record --soft-pt` owns the time conversion), decoded by Linux perf's own Intel PT decoder, which
/// keeps its return-compression stack differently from libipt (it pops at every RET, clears at PSB, has no limit).
/// </summary>
public sealed class SoftPtPerfTests(ITestOutputHelper output)
{
    private const uint PtType = 8;
    private const uint Pid = 4242;

    [Theory]
    [InlineData("softpt_program", true, 0)]
    [InlineData("softpt_program", false, 15)]
    [InlineData("softpt_libc", true, 0)]
    [InlineData("softpt_libc", false, 0)]
    [InlineData("softpt_libc", true, 15)]
    public void Perf_lists_the_ground_truth(string program, bool retComp, int psbPeriod)
    {
        string? missing = SoftPtTestSupport.MissingPrerequisite()
            ?? (File.Exists("/usr/bin/perf") ? null : "Linux perf is not installed (apt-get install linux-perf)");
        if (missing != null)
        {
            output.WriteLine($"skipped: {missing}");
            return;
        }
        var run = SoftPtTestSupport.Record(program);
        var options = new SoftPtOptions { RetCompression = retComp, PsbPeriod = psbPeriod, Tsc = false, Mtc = false };
        var (pt, stats) = SoftPtTestSupport.Encode(run, options);
        string file = WritePerfData(run, pt, options, program);
        try
        {
            var r = Perf.Run("script", "-i", file, "--itrace=i0ns", "-F", "ip");
            Perf.AssertClean(r, allowLost: false);
            var ips = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => ulong.Parse(l.Trim(), NumberStyles.HexNumber)).ToList();
            SoftPtTestSupport.AssertSameAddresses(run.Instructions, ips, $"perf, retcomp {retComp}, psb_period {psbPeriod}");
            var errors = Perf.Run("script", "-i", file, "--itrace=e");
            Perf.AssertClean(errors, allowLost: false);
            Assert.DoesNotContain("error", errors.Stdout, StringComparison.OrdinalIgnoreCase);
            output.WriteLine($"perf lists all {ips.Count} instructions; {stats}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string WritePerfData(SoftPtTestSupport.Recorded run, byte[] pt, SoftPtOptions options, string comm)
    {
        var ptAttr = new PerfEventAttr
        {
            Type = PtType, Size = PerfEventAttr.SizeVer7, Config = options.Config, SamplePeriod = 1,
            SampleType = SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Identifier,
            ReadFormat = ReadFormat.Id,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv,
        };
        var dummy = new PerfEventAttr
        {
            Type = (uint)PerfType.Software, Size = PerfEventAttr.SizeVer7, Config = (ulong)SoftwareEvent.Dummy, SamplePeriod = 1,
            SampleType = ptAttr.SampleType,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.Mmap | AttrFlags.Mmap2 | AttrFlags.Comm | AttrFlags.Task | AttrFlags.ExcludeKernel,
        };
        string path = Path.Combine(Path.GetTempPath(), $"softpt-{Guid.NewGuid():N}.data");
        using var file = PerfDataWriter.CreateFile(path);
        var writer = new PerfDataWriter(file, [new EventAttrEntry(ptAttr, [1], "intel_pt//u"), new EventAttrEntry(dummy, [2], "dummy:u")]);
        var background = new BackgroundPerfDataWriter(writer, []);
        var builder = new RecordBuilder(ptAttr.SampleType);
        background.Post(options.ApplyTo(new IntelPtAuxtraceInfo { PmuType = PtType, PerCpuMmaps = false }).ToRecord(), default);
        var trailer = new SampleIdTrailer(Pid, Pid, 0, 2, 0, 0);
        background.Post(builder.Comm(Pid, Pid, comm, exec: true, trailer), default);
        foreach (var region in run.Recording.AddressSpaces[0].Regions)
            background.Post(builder.Mmap2(Pid, Pid, region.Start, (ulong)region.Bytes.Length, region.FileOffset, 0, 0, 0,
                prot: 5, flags: 2, region.Path, [], PerfRecordMisc.User, trailer), default);
        new AuxtraceSink(background, idx: 0, cpu: -1, tid: (int)Pid).Consume(0, pt, default);
        background.Post(RecordBuilder.FinishedRound(), default);
        background.Finish(new PerfDataFeatures { CpuId = "GenuineIntel,6,85,7", NrCpusOnline = 1, NrCpusAvailable = 1, Arch = "x86_64" });
        return path;
    }
}
