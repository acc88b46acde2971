using System.Globalization;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.SoftPtEncoder;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtFile;

/// <summary>
/// The perf.data of `record --soft-pt`, written by <see cref="Decoders.PerfData.SoftPtFile"/> around an encoded
/// single-stepped run (the encoder tests' independent stepper): Linux perf's Intel PT decoder lists exactly the
/// executed instructions, in timed mode (TSC/MTC, the sideband ordered by time) and timeless, with no decode error.
/// </summary>
public sealed class SoftPtFileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-file-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Perf_decodes_the_file_to_the_ground_truth(bool timed)
    {
        if (SoftPtTestSupport.MissingPrerequisite() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        var run = SoftPtTestSupport.Record("softpt_libc");
        var recording = WithSideband(run);
        var options = new SoftPtOptions { Tsc = timed, Mtc = timed };
        var (pt, stats) = SoftPtTestSupport.Encode(run, options, recording.Threads[0]);
        string path = Path.Combine(_dir, "soft.data");
        SoftPtFileSummary summary;
        using (var file = PerfDataWriter.CreateFile(path))
            summary = Decoders.PerfData.SoftPtFile.Write(file, recording, [pt], new SoftPtFileSettings
            {
                IntelPtConfig = options.Config, AuxtraceInfo = options.ApplyTo(new IntelPtAuxtraceInfo()), TscOf = options.TscOf,
                Cmdline = ["dotnet-ptrace", "record", "--soft-pt", "softpt_libc"],
            });
        Assert.Equal(pt.Length, summary.TraceBytes);

        var r = Perf.Run("script", "-i", path, "--itrace=i0ns", "-F", "ip");
        Perf.AssertClean(r, allowLost: false);
        var ips = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => ulong.Parse(l.Trim(), NumberStyles.HexNumber)).ToList();
        SoftPtTestSupport.AssertSameAddresses(run.Instructions, ips, timed ? "perf, timed" : "perf, timeless");
        var errors = Perf.Run("script", "-i", path, "--itrace=e");
        Perf.AssertClean(errors, allowLost: false);
        Assert.Equal("", errors.Stdout.Trim());

        // The file says what it is, and it is an ordinary perf.data to our own reader.
        var header = Perf.Run("report", "--header-only", "-i", path);
        Assert.Contains(Decoders.PerfData.SoftPtFile.CpuDescMark, header.Stdout);
        using var reader = PerfDataReader.Open(path);
        while (reader.TryRead(out _)) { }
        Assert.Null(reader.Error);
        Assert.Equal(1, reader.Count(Decoders.Abi.PerfRecordType.Auxtrace));
        output.WriteLine($"perf lists all {ips.Count} instructions from {summary.FileBytes} bytes ({summary.TraceBytes} of PT); {stats}");
    }

    /// <summary>The stepper's run with the sideband a tracer would give: the exec and each code mapping, before the first step.</summary>
    private static ExecutionRecording WithSideband(SoftPtTestSupport.Recorded run)
    {
        const int Pid = 4343;
        var recording = new ExecutionRecording();
        recording.AddressSpaces.AddRange(run.Recording.AddressSpaces);
        var thread = new ThreadExecution { Pid = Pid, Tid = Pid, AddressSpaceId = run.Thread.AddressSpaceId };
        foreach (ulong step in run.Thread.Steps.AsSpan()) thread.Steps.Add(step);
        recording.Threads.Add(thread);
        recording.Sideband.Add(new SidebandEvent { Kind = SidebandKind.Exec, Time = -2, Pid = Pid, Tid = Pid, Comm = "softpt_libc" });
        foreach (CodeRegion region in run.Recording.AddressSpaces[0].Regions)
            recording.Sideband.Add(new SidebandEvent
            {
                Kind = SidebandKind.Mmap, Time = -1, Pid = Pid, Tid = Pid, Address = region.Start, Length = (ulong)region.Bytes.Length,
                FileOffset = region.FileOffset, Path = region.Path, Prot = 5, Flags = 2,
            });
        recording.Sideband.Add(new SidebandEvent { Kind = SidebandKind.Exit, Time = thread.Steps.Count + 1, Pid = Pid, Tid = Pid });
        return recording;
    }
}

/// <summary>Code no file holds travels inside the perf.data as our own feature, which perf skips.</summary>
public sealed class CapturedCodeTests
{
    [Fact]
    public void Regions_round_trip_and_damage_names_the_offset()
    {
        var regions = new List<CapturedCode>
        {
            new(12, 0x7fff_0000_0000, 99, "[vdso]", Enumerable.Range(0, 8195).Select(i => (byte)i).ToArray()),
            new(13, 0x1000, 100, "//anon", [0xc3]),
        };
        byte[] payload = CapturedCode.Encode(regions);
        var back = CapturedCode.TryDecode(payload, out string? error);
        Assert.Null(error);
        Assert.Equal(regions.Select(r => (r.Pid, r.Address, r.Time, r.Name, Convert.ToHexString(r.Bytes))),
                     back!.Select(r => (r.Pid, r.Address, r.Time, r.Name, Convert.ToHexString(r.Bytes))));
        for (int cut = 0; cut < payload.Length; cut += 97)
        {
            var partial = CapturedCode.TryDecode(payload.AsSpan(0, cut), out error);
            Assert.Null(partial);
            Assert.Matches("offset [0-9]+", error);
        }
    }
}
