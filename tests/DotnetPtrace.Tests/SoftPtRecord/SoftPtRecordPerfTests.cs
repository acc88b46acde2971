using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.SoftPtEncoder;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtRecord;

/// <summary>
/// Issue 5's proof, end to end through the CLI: `record --soft-pt --ground-truth` on each sample program, then Linux
/// perf's own Intel PT decoder (`perf script --itrace=i0ns -F tid,ip`) must list exactly the single-stepped
/// addresses of every thread, in order, and `--itrace=e` must report no decode error.
/// </summary>
[Collection("live recording")]
public sealed class SoftPtRecordPerfTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-e2e-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string, string> Samples => new()
    {
        // name, build, arguments (space separated); static builds skip ~80k instructions of dynamic loading.
        { "control_flow", "static", "" },
        { "control_flow", "pie", "" },
        { "control_flow", "nopie", "" },
        { "signals", "static", "" },
        { "signals", "static", "die" },
        { "threads", "static", "" },
        { "syscalls", "static", "50" },
        { "vdso", "static", "" },
        // jit (code in anonymous memory) is not here: perf has no bytes for anonymous code without a jitdump; our
        // decoder reads the copy `record --soft-pt` keeps in the file (the decode tests cover it).
        { "fork_exec", "static", "loop" },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Perf_decodes_every_thread_to_its_ground_truth(string name, string build, string arguments) =>
        RecordAndCheck(name, build, arguments, terms: null);

    /// <summary>The intel_pt terms change the packets, never the flow: no return compression, the smallest and largest
    /// PSB period, no timing at all, and cycle-accurate timing.</summary>
    [Theory]
    [InlineData("noretcomp,psb_period=0")]
    [InlineData("tsc=0,mtc=0,psb_period=15")]
    [InlineData("cyc,mtc_period=0")]
    public void Every_option_set_decodes_to_the_ground_truth(string terms) =>
        RecordAndCheck("signals", "static", "", terms);

    private void RecordAndCheck(string name, string build, string arguments, string? terms)
    {
        string program = SoftPtSamples.Path(name, build switch { "pie" => SoftPtBuild.Pie, "nopie" => SoftPtBuild.NoPie, _ => SoftPtBuild.Static });
        string[] args = arguments.Length == 0 ? [] : arguments.Split(' ');
        if (name == "fork_exec") args = [SoftPtSamples.NoStdlib(args[0])];
        string data = Path.Combine(_dir, $"{name}.data"), truth = Path.Combine(_dir, $"{name}.gt");
        string[] events = terms is null ? [] : ["-e", $"intel_pt/{terms}/u"];
        var rec = Tool.Run(["record", "--soft-pt", .. events, "-o", data, "--ground-truth", truth, "--", program, .. args], TimeSpan.FromMinutes(3));
        output.WriteLine(rec.Stderr);
        // Traced, the command ends as it does on its own.
        var native = ProcessRunner.Run(program, args, TimeSpan.FromMinutes(1));
        int expectedExit = native.ExitCode < 0 ? 128 - native.ExitCode : native.ExitCode;
        Assert.True(rec.ExitCode == expectedExit, $"native exit {native.ExitCode}; traced: {rec}");
        Assert.Contains("software Intel PT", rec.Stderr);

        var threads = GroundTruthReader.Read(truth).Where(t => t.Addresses.Length > 0).ToList();
        Assert.NotEmpty(threads);
        var perf = Perf.Run("script", "-i", data, "--itrace=i0ns", "-F", "tid,ip");
        Perf.AssertClean(perf, allowLost: false);
        var decoded = new Dictionary<int, List<ulong>>();
        foreach (string line in perf.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int tid = int.Parse(f[0], CultureInfo.InvariantCulture);
            if (!decoded.TryGetValue(tid, out var list)) decoded[tid] = list = [];
            list.Add(ulong.Parse(f[1], NumberStyles.HexNumber));
        }
        // A tid can hold several logs (exec from a thread); perf lists them one after the other.
        foreach (var group in threads.GroupBy(t => t.Tid))
        {
            ulong[] expected = group.SelectMany(t => t.Addresses).ToArray();
            SoftPtTestSupport.AssertSameAddresses(expected, decoded.GetValueOrDefault(group.Key) ?? [], $"{name} ({build}) tid {group.Key}");
        }
        Assert.Equal(threads.Select(t => t.Tid).Distinct().Order(), decoded.Keys.Order());
        var errors = Perf.Run("script", "-i", data, "--itrace=e");
        Perf.AssertClean(errors, allowLost: false);
        Assert.Equal("", errors.Stdout.Trim());
        AssertLibiptAgrees(data, threads, $"{name} ({build})", terms);
        // The binaries' build-ids travel with the trace (perf's own listing of the file is the judge).
        var ids = Perf.Run("buildid-list", "-i", data);
        Assert.Contains(ids.Stdout.Split('\n'), l => l.EndsWith(" " + program, StringComparison.Ordinal));
        output.WriteLine($"{name} ({build}): {threads.Count} threads, {threads.Sum(t => t.Addresses.Length)} instructions, {new FileInfo(data).Length} bytes of perf.data");
    }

    /// <summary>
    /// The second oracle: libipt's instruction decoder over each thread's AUXTRACE bytes from the file, with the code
    /// the file names (MMAP2 file ranges read from disk, and the captured [vdso]/anonymous code feature).
    /// A process that exec'd after it was forked runs two images in one stream, which one libipt image cannot hold:
    /// such threads are checked by perf above only.
    /// </summary>
    private void AssertLibiptAgrees(string data, List<GroundTruthThread> threads, string what, string? terms)
    {
        if (SoftPtTestSupport.MissingPrerequisite() is { } missing) { output.WriteLine($"libipt check skipped: {missing}"); return; }
        var streams = new Dictionary<int, MemoryStream>();
        var maps = new Dictionary<int, List<(ulong Start, ulong Length, ulong Offset, string Path)>>();
        var execs = new Dictionary<int, int>();
        var forked = new HashSet<int>();
        using (var reader = PerfDataReader.Open(data))
        using (var file = File.OpenRead(data))
        {
            while (reader.TryRead(out PerfRecord r))
            {
                ReadOnlySpan<byte> b = r.Bytes;
                int pid = b.Length >= 12 ? BinaryPrimitives.ReadInt32LittleEndian(b[8..]) : -1;
                switch (r.Type)
                {
                    case PerfRecordType.Comm when (r.Header.Misc & PerfRecordMisc.CommExec) != 0:
                        execs[pid] = execs.GetValueOrDefault(pid) + 1;
                        break;
                    case PerfRecordType.Fork when pid != BinaryPrimitives.ReadInt32LittleEndian(b[12..]):
                        forked.Add(pid);
                        if (maps.TryGetValue(BinaryPrimitives.ReadInt32LittleEndian(b[12..]), out var parent)) maps[pid] = [.. parent];
                        break;
                    case PerfRecordType.Mmap2:
                    {
                        string path = Encoding.UTF8.GetString(b[72..]).Split('\0')[0];
                        if (!maps.TryGetValue(pid, out var list)) maps[pid] = list = [];
                        list.Add((BinaryPrimitives.ReadUInt64LittleEndian(b[16..]), BinaryPrimitives.ReadUInt64LittleEndian(b[24..]), BinaryPrimitives.ReadUInt64LittleEndian(b[32..]), path));
                        break;
                    }
                    case PerfRecordType.Auxtrace:
                    {
                        int tid = BinaryPrimitives.ReadInt32LittleEndian(b[36..]);
                        var bytes = new byte[r.AuxPayloadSize];
                        file.Position = r.AuxPayloadOffset;
                        file.ReadExactly(bytes);
                        if (!streams.TryGetValue(tid, out var stream)) streams[tid] = stream = new MemoryStream();
                        stream.Write(bytes);
                        break;
                    }
                }
            }
            Assert.Null(reader.Error);
            var captured = reader.Features.Where(f => (int)f.Feature == CapturedCode.FeatureBit)
                .SelectMany(f => CapturedCode.TryDecode(f.Payload, out _) ?? []).ToList();
            foreach (var group in threads.GroupBy(t => t.Tid))
            {
                var thread = group.First();
                if (group.Count() > 1 || execs.GetValueOrDefault(thread.Pid) > (forked.Contains(thread.Pid) ? 0 : 1) || !streams.ContainsKey(thread.Tid))
                {
                    output.WriteLine($"{what} tid {thread.Tid}: two images in one stream, libipt not asked");
                    continue;
                }
                var regions = new List<(ulong Start, string File)>();
                foreach (var (start, length, offset, path) in maps.GetValueOrDefault(thread.Pid) ?? [])
                {
                    string slice = Path.Combine(_dir, $"region-{thread.Tid}-{start:x}");
                    if (path.StartsWith('/') && File.Exists(path))
                    {
                        using var elf = File.OpenRead(path);
                        var bytes = new byte[Math.Min((long)length, elf.Length - (long)offset)];
                        elf.Position = (long)offset;
                        elf.ReadExactly(bytes);
                        File.WriteAllBytes(slice, bytes);
                    }
                    else if (captured.LastOrDefault(c => c.Pid == thread.Pid && c.Address == start) is { } code) File.WriteAllBytes(slice, code.Bytes);
                    else continue;
                    regions.Add((start, slice));
                }
                byte[] pt = streams[thread.Tid].ToArray();
                var options = terms is null ? new SoftPtOptions() : Cli.Record.SoftPtTerms.Parse([$"intel_pt/{terms}/u"]);
                var result = SoftPtTestSupport.DecodeWithLibipt(regions, pt, options, $"e2e-{thread.Tid}");
                Assert.Empty(result.Errors);
                SoftPtTestSupport.AssertSameAddresses(thread.Addresses, result.Instructions.Select(i => i.Ip).ToList(), $"libipt, {what} tid {thread.Tid}");
            }
        }
    }
}
