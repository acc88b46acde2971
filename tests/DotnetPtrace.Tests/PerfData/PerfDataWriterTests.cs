using System.Buffers.Binary;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Tests.Infrastructure;
using Xunit;

namespace DotnetPtrace.Tests.PerfData;

/// <summary>perf.data files we write, read back by the real Linux perf (the installed 6.1 is the oracle).</summary>
public sealed class PerfDataWriterTests : IDisposable
{
    private const int Pid = 4242;
    private readonly string _dir = Directory.CreateTempSubdirectory("ptrace-perfdata-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PerfDataFeatures Features(IReadOnlyList<BuildIdEntry>? buildIds = null) => new()
    {
        Hostname = "ptrace-test-host",
        OsRelease = "6.1.0-ptrace-test",
        Arch = "x86_64",
        NrCpusOnline = 3,
        NrCpusAvailable = 4,
        CpuDesc = "Test CPU @ 1.00GHz",
        CpuId = "GenuineIntel,6,85,4",
        TotalMemKb = 16_384_000,
        Cmdline = ["/usr/local/bin/dotnet-ptrace", "record", "--", "/usr/bin/true"],
        BuildIds = buildIds ?? [],
    };

    /// <summary>COMM, MMAP2 of the binary, then <paramref name="samples"/> samples at its entry point.</summary>
    private static List<byte[]> Recording(TrueBinary binary, int samples)
    {
        var records = new List<byte[]>
        {
            TestRecords.Comm(Pid, Pid, "true", 1_000),
            TestRecords.Mmap2(Pid, Pid, binary.MapStart, binary.MapLength, binary.MapPgoff, binary.Path, 2_000),
        };
        for (int i = 0; i < samples; i++)
            records.Add(TestRecords.Sample(Pid, Pid, binary.EntryIp + (ulong)(i % 16), 10_000 + (ulong)i * 1_000));
        return records;
    }

    [Fact]
    public void Perf_reads_our_records_features_and_build_ids()
    {
        TrueBinary binary = TrueBinary.Load();
        string expectedBuildId = TrueBinary.ReadelfBuildId(binary.Path);
        string path = Path.Combine(_dir, "perf.data");
        EventAttrEntry[] attrs = TestRecords.Attrs();
        var stats = new RecordStatistics();
        var collector = new BuildIdCollector(attrs);

        using (FileStream file = PerfDataWriter.CreateFile(path))
        {
            var writer = new PerfDataWriter(file, attrs);
            using var background = new BackgroundPerfDataWriter(writer, [stats, collector], capacityInChunks: 2);
            List<byte[]> records = Recording(binary, samples: 50);
            records.Add(TestRecords.Sample(Pid, Pid, 0xffffffff81000000, 99_000, cpuMode: PerfRecordMisc.Kernel));
            // Post in uneven chunks, some split in two spans as a wrapped ring region would be.
            for (int i = 0; i < records.Count; i += 7)
            {
                byte[][] batch = records.Skip(i).Take(7).ToArray();
                int split = batch.Length / 2;
                background.Post(TestRecords.Concat(batch[..split]), TestRecords.Concat(batch[split..]));
            }
            background.WaitForWriter();
            byte[]? kernelBuildId = ElfBuildId.TryReadNotes(File.ReadAllBytes("/sys/kernel/notes"));
            IReadOnlyList<BuildIdEntry> buildIds = collector.Collect(ElfBuildId.TryRead, kernelBuildId);
            background.Finish(Features(buildIds));
            Assert.Null(writer.WriteError);
            Assert.True(writer.FeaturesWritten);
        }

        Assert.Equal(53, stats.Records);
        Assert.Equal(51, stats.Samples);
        Assert.Equal(1, stats.Count(PerfRecordType.Comm));
        Assert.Equal(1, stats.Count(PerfRecordType.Mmap2));
        Assert.Equal(["[kernel.kallsyms]", binary.Path], collector.HitDsoNames());

        ProcessResult script = RunClean("script", "-i", path, "--show-mmap-events", "-F", "comm,pid,tid,ip,sym,dso");
        string[] sampleLines = script.Stdout.Split('\n').Where(l => l.Contains("(/usr/bin/true)") && !l.Contains("MMAP")).ToArray();
        Assert.True(sampleLines.Length == 50, $"expected 50 samples in /usr/bin/true:\n{script}");
        Assert.All(sampleLines, l => Assert.Matches($@"^\s*true\s+{Pid}/{Pid}\s", l));
        Assert.Contains($"{binary.EntryIp:x}", script.Stdout);
        Assert.Contains("PERF_RECORD_MMAP2", script.Stdout);
        Assert.Contains(binary.Path, script.Stdout);

        ProcessResult header = RunClean("report", "--stdio", "--header-only", "-i", path);
        Assert.Contains("# hostname : ptrace-test-host", header.Stdout);
        Assert.Contains("# os release : 6.1.0-ptrace-test", header.Stdout);
        Assert.Contains("# perf version : dotnet-ptrace 0.1.0", header.Stdout);
        Assert.Contains("# arch : x86_64", header.Stdout);
        Assert.Contains("# nrcpus online : 3", header.Stdout);
        Assert.Contains("# nrcpus avail : 4", header.Stdout);
        Assert.Contains("# cpudesc : Test CPU @ 1.00GHz", header.Stdout);
        Assert.Contains("# cpuid : GenuineIntel,6,85,4", header.Stdout);
        Assert.Contains("# total memory : 16384000 kB", header.Stdout);
        Assert.Contains("# cmdline : /usr/local/bin/dotnet-ptrace record -- /usr/bin/true", header.Stdout);
        Assert.Contains($"# event : name = cpu-clock, , id = {{ {TestRecords.CpuClockId} }}", header.Stdout);
        Assert.Contains($"# event : name = dummy:u, , id = {{ {TestRecords.DummyId} }}", header.Stdout);
        Assert.Contains("size = 128", header.Stdout);

        ProcessResult report = RunClean("report", "--stdio", "--sort", "comm,dso", "-i", path);
        // (The kernel sample stays [unknown] in perf report: the file has no kernel MMAP, which perf would synthesise.)
        Assert.True(Regex.IsMatch(report.Stdout, @"98\.04%\s+true\s+true\s*\n"), $"50 of 51 samples in true: {report}");

        ProcessResult buildIdList = RunClean("buildid-list", "-i", path);
        Assert.Contains($"{expectedBuildId} {binary.Path}", buildIdList.Stdout);
        string kernelBuildIdText = RunClean("buildid-list", "-k").Stdout.Trim();
        Assert.Contains($"{kernelBuildIdText} [kernel.kallsyms]", buildIdList.Stdout);
    }

    [Fact]
    public void Attrs_are_stored_at_128_bytes_because_perf_6_1_rejects_larger_ones()
    {
        EventAttrEntry[] attrs = TestRecords.Attrs();
        Assert.All(attrs, a => Assert.Equal((uint)PerfEventAttr.SizeVer8, a.Attr.Size));
        string path = Path.Combine(_dir, "perf.data");
        using (FileStream file = PerfDataWriter.CreateFile(path))
        {
            var writer = new PerfDataWriter(file, attrs);
            Assert.Equal(PerfEventAttr.SizeVer7, writer.AttrSizeOnFile);
            writer.WriteData(TestRecords.Comm(Pid, Pid, "true", 1_000));
            writer.Finish(Features());
        }
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(PerfFileHeader.Magic, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(128UL + 16, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16)));  // header attr_size
        ulong attrsOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(24));
        Assert.Equal(128U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)attrsOffset + 4)));
        ulong dataOffset = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(40));
        Assert.Equal(0UL, dataOffset % 8);
        RunClean("script", "-i", path, "--show-task-events");

        // The same file with VER8 (136-byte) attrs: perf 6.1 refuses it ("file uses a more recent and
        // unsupported ABI"), which is why the writer stores 128 unless config3 is used.
        string path136 = Path.Combine(_dir, "perf136.data");
        using (FileStream file = PerfDataWriter.CreateFile(path136))
        {
            var writer = new PerfDataWriter(file, attrs, PerfEventAttr.SizeVer8);
            writer.WriteData(TestRecords.Comm(Pid, Pid, "true", 1_000));
            writer.Finish(Features());
        }
        ProcessResult rejected = Perf.Run("script", "-i", path136);
        Assert.True(rejected.ExitCode != 0 && rejected.Stderr.Contains("incompatible file format"),
            $"perf 6.1 was expected to reject 136-byte attrs: {rejected}");

        var withConfig3 = attrs.Select(a => a with { Attr = a.Attr with { Config3 = 1 } }).ToArray();
        Assert.Equal(PerfEventAttr.SizeVer8, AttrBytes.ChooseOnFileSize(withConfig3));
    }

    [Fact]
    public void The_file_is_created_readable_by_its_owner_only()
    {
        string fresh = Path.Combine(_dir, "fresh.data");
        using (PerfDataWriter.CreateFile(fresh)) { }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(fresh));

        string existing = Path.Combine(_dir, "existing.data");
        File.WriteAllText(existing, "old contents that must go");
        File.SetUnixFileMode(existing, (UnixFileMode)0b110_100_100);  // 0644
        using (FileStream file = PerfDataWriter.CreateFile(existing))
        {
            var writer = new PerfDataWriter(file, TestRecords.Attrs());
            writer.WriteData(TestRecords.Comm(Pid, Pid, "true", 1_000));  // perf warns about an empty data section
            writer.Finish(Features());
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(existing));
        RunClean("report", "--stdio", "--header-only", "-i", existing);
    }

    [Fact]
    public void A_full_disk_still_leaves_a_file_perf_reads_with_the_records_written_before()
    {
        string mount = Path.Combine(_dir, "small-tmpfs");
        Directory.CreateDirectory(mount);
        Mount(mount);
        try
        {
            TrueBinary binary = TrueBinary.Load();
            string path = Path.Combine(mount, "perf.data");
            List<byte[]> records = Recording(binary, samples: 4000);  // 56 bytes each: ~220 KiB, more than fits
            long dataSize;
            using (FileStream file = PerfDataWriter.CreateFile(path))
            {
                var writer = new PerfDataWriter(file, TestRecords.Attrs());
                writer.WriteData(TestRecords.Concat(records[0], records[1]));
                for (int i = 2; i < records.Count; i += 10)
                    writer.WriteData(TestRecords.Concat(records.Skip(i).Take(10).ToArray()));
                Assert.IsAssignableFrom<IOException>(writer.WriteError);
                Assert.True(writer.DroppedBytes > 0);
                dataSize = writer.DataSize;
                writer.Finish(Features());
                Assert.Equal(dataSize, writer.DataSize);
            }

            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal((ulong)dataSize, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(48)));
            int headerRecords = records[0].Length + records[1].Length;
            long samplesWritten = (dataSize - headerRecords) / 56;
            Assert.Equal(0, (dataSize - headerRecords) % (56 * 10));  // only whole WriteData calls count

            ProcessResult script = RunClean("script", "-i", path, "-F", "comm,pid,tid,ip,dso");
            int lines = script.Stdout.Split('\n').Count(l => l.Contains("(/usr/bin/true)"));
            Assert.Equal(samplesWritten, lines);
        }
        finally
        {
            Unmount(mount);
        }
    }

    [Fact]
    public void Writes_after_finish_are_refused()
    {
        using FileStream file = PerfDataWriter.CreateFile(Path.Combine(_dir, "perf.data"));
        var writer = new PerfDataWriter(file, TestRecords.Attrs());
        writer.Finish(Features());
        Assert.Throws<InvalidOperationException>(() => writer.WriteData(new byte[8]));
        Assert.Throws<InvalidOperationException>(() => writer.Finish(Features()));
    }

    /// <summary>Runs perf and asserts it succeeded without a warning or error about the file.</summary>
    private static ProcessResult RunClean(params string[] args)
    {
        ProcessResult result = Perf.Run(args);
        Perf.AssertClean(result, allowLost: false);
        return result;
    }

    private static void Mount(string directory)
    {
        var (exit, output) = RunTool("/usr/bin/mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", directory);
        Assert.True(exit == 0, $"This test mounts a 64 KiB tmpfs to fill it and needs root: mount said {output}");
    }

    private static void Unmount(string directory) => RunTool("/usr/bin/umount", directory);

    private static (int Exit, string Output) RunTool(string tool, params string[] args)
    {
        ProcessResult result = ProcessRunner.Run(tool, args, TimeSpan.FromSeconds(30));
        return (result.ExitCode, result.Stdout + result.Stderr);
    }
}
