using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.PerfData;

namespace DotnetPtrace.Tests.Pipe;

/// <summary>
/// The pipe layout of <see cref="PerfDataWriter"/> on its own, through <see cref="BackgroundPerfDataWriter"/> as the
/// recorder uses it: the record order perf 6.1 sends (checked with perf's own stream in the report), read back by
/// perf 6.1 through a pipe (report -D, script, buildid-list) and by our reader; and a closed pipe.
/// </summary>
public sealed class PipeWriterTests : IDisposable
{
    private const int Pid = 4242;
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-pipewriter-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PerfDataFeatures Features(IReadOnlyList<BuildIdEntry> buildIds, IReadOnlyList<CapturedCode> captured) => new()
    {
        Hostname = "pipe-test-host", OsRelease = "6.1.0-pipe-test", Arch = "x86_64", NrCpusOnline = 2, NrCpusAvailable = 2,
        CpuDesc = "Test CPU", CpuId = "GenuineIntel,6,85,4", TotalMemKb = 1024,
        Cmdline = ["dotnet-ptrace", "record", "-o", "-"], BuildIds = buildIds, CapturedCode = captured,
    };

    [Fact]
    public void Perf_and_our_reader_read_a_stream_with_build_ids_at_both_ends_and_captured_code_in_parts()
    {
        TrueBinary binary = TrueBinary.Load();
        EventAttrEntry[] attrs = TestRecords.Attrs();
        // 150 KiB of "code": more than one record can hold (a record's size is a u16), so it travels in three parts.
        var code = new byte[150 * 1024];
        new Random(7).NextBytes(code);
        var captured = new CapturedCode(Pid, 0x7fff_0000_0000, 1_500, "[vdso]", code);
        byte[] kernelId = Enumerable.Range(1, 20).Select(i => (byte)i).ToArray();
        var early = new BuildIdEntry(BuildIdEntry.HostPid, PerfRecordMisc.User, ElfBuildId.TryRead(binary.Path)!, binary.Path);
        var late = new BuildIdEntry(BuildIdEntry.HostPid, PerfRecordMisc.Kernel, kernelId, "[kernel.kallsyms]");

        var output = new MemoryStream();
        var writer = PerfDataWriter.CreatePipe(output, attrs, Features([early], [captured]));
        Assert.True(writer.IsPipe);
        using (var background = new BackgroundPerfDataWriter(writer, [], capacityInChunks: 2))
        {
            background.Post(TestRecords.Comm(Pid, Pid, "true", 1_000), TestRecords.Mmap2(Pid, Pid, binary.MapStart, binary.MapLength, binary.MapPgoff, binary.Path, 2_000));
            background.Post(TestRecords.KernelMmap(0xffffffff81000000, 0x1000000, "[kernel.kallsyms]_text"));
            background.Post(PerfDataWriter.FinishedInitRecord());
            background.Post(TestRecords.Sample(Pid, Pid, 0xffffffff81000100, 9_000, cpuMode: PerfRecordMisc.Kernel));
            for (int i = 0; i < 20; i++)
                background.Post(TestRecords.Sample(Pid, Pid, binary.EntryIp + (ulong)i, 10_000 + (ulong)i * 1_000));
            background.Post(RecordBuilder.FinishedRound());
            // At the end the build-ids are known: the early one is not sent twice.
            background.Finish(Features([early, late], [captured]));
        }
        Assert.Null(writer.WriteError);
        byte[] stream = output.ToArray();
        Assert.Equal(stream.Length, writer.TotalBytes);

        // The pipe header, then perf's order: ATTR per event, FEATURE..., the LAST_FEATURE mark (32), then the rest.
        Assert.Equal("PERFILE2"u8.ToArray(), stream[..8]);
        Assert.Equal(16UL, BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(8)));
        var types = Records(stream);
        int marks = types.FindIndex(t => t.Type == PerfRecordType.HeaderFeature && t.Feature == 32);
        Assert.Equal([PerfRecordType.HeaderAttr, PerfRecordType.HeaderAttr], types.Take(2).Select(t => t.Type));
        Assert.All(types.Skip(2).Take(marks - 2), t => Assert.Equal(PerfRecordType.HeaderFeature, t.Type));
        Assert.Equal([3UL, 4, 5, 6, 7, 8, 9, 10, 11, 12], types.Skip(2).Take(marks - 2).Select(t => t.Feature));
        Assert.Equal([PerfRecordType.HeaderBuildId, PerfRecordType.HeaderEventType, PerfRecordType.HeaderEventType, PerfRecordType.HeaderEventType, PerfRecordType.Comm],
            types.Skip(marks + 1).Take(5).Select(t => t.Type));
        Assert.Equal(PerfRecordType.HeaderBuildId, types[^1].Type);
        Assert.Equal(2, types.Count(t => t.Type == PerfRecordType.HeaderBuildId));

        // perf, through a pipe: every record processed without a complaint, the samples, both build-ids.
        string path = Path.Combine(_dir, "synthetic.pipe");
        File.WriteAllBytes(path, stream);
        PipeShell.PerfOn(path, "report -D");
        var script = PipeShell.PerfOn(path, "script -F comm,pid,ip,dso");
        Assert.Equal(20, script.Stdout.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^\s*true\s+{Pid}\s") && l.Contains($"({binary.Path})")));
        var ids = PipeShell.PerfOn(path, "buildid-list").Stdout;
        Assert.Contains($"{TrueBinary.ReadelfBuildId(binary.Path)} {binary.Path}", ids);
        Assert.Contains($"{Convert.ToHexStringLower(kernelId)} [kernel.kallsyms]", ids);
        var header = PipeShell.PerfOn(path, "report --header-only").Stdout;
        Assert.Contains("# hostname : pipe-test-host", header);
        Assert.Contains($"# event : name = cpu-clock, , id = {{ {TestRecords.CpuClockId} }}", header);

        // Ours: attrs with their ids, the features, and the captured code joined from its parts.
        using var reader = PerfDataReader.Open(new MemoryStream(stream), "synthetic");
        while (reader.TryRead(out _)) { }
        Assert.Null(reader.Error);
        Assert.Equal([TestRecords.CpuClockId], reader.Attrs.Attrs[0].Ids);
        // The HEADER_BUILD_ID records, from both ends of the stream, make up the BUILD_ID feature as in a file.
        FeatureData buildIdFeature = Assert.Single(reader.Features, f => f.Feature == HeaderFeature.BuildId);
        Assert.True(DotnetPtrace.Decoders.PerfData.Features.BuildIdTable.TryParse(buildIdFeature.Payload, out var table, out _));
        Assert.Equal([binary.Path, "[kernel.kallsyms]"], table!.Entries.Select(e => e.FileName));
        FeatureData feature = Assert.Single(reader.Features, f => (int)f.Feature == CapturedCode.FeatureBit);
        CapturedCode back = Assert.Single(CapturedCode.TryDecode(feature.Payload, out string? error)!);
        Assert.Null(error);
        Assert.Equal((captured.Pid, captured.Address, captured.Time, captured.Name), (back.Pid, back.Address, back.Time, back.Name));
        Assert.Equal(code, back.Bytes);
    }

    [Fact]
    public void A_closed_pipe_is_kept_as_the_reader_going_away_and_later_data_is_dropped()
    {
        var broken = new BrokenPipeStream(acceptBytes: 200);
        var writer = PerfDataWriter.CreatePipe(broken, TestRecords.Attrs(), Features([], []));
        Assert.True(writer.ReaderWentAway);   // the beginning alone is larger than 200 bytes
        byte[] sample = TestRecords.Sample(Pid, Pid, 0x1000, 1);
        writer.WriteData(sample);
        writer.Finish(Features([], []));   // does not throw: there is nobody left to tell
        Assert.Equal(sample.Length, writer.DroppedBytes);
        Assert.Equal(0, writer.DataSize);
        Assert.False(writer.FeaturesWritten);
    }

    private static List<(PerfRecordType Type, ulong Feature)> Records(byte[] stream)
    {
        var list = new List<(PerfRecordType, ulong)>();
        int pos = 16;
        while (pos + 8 <= stream.Length)
        {
            var h = PerfEventHeader.Read(stream.AsSpan(pos));
            list.Add((h.Type, h.Type == PerfRecordType.HeaderFeature ? BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(pos + 8)) : 0));
            pos += h.Size;
        }
        Assert.Equal(stream.Length, pos);
        return list;
    }

    /// <summary>A pipe whose reader leaves after <c>acceptBytes</c>: then every write fails with EPIPE, as on Linux.</summary>
    private sealed class BrokenPipeStream(int acceptBytes) : Stream
    {
        private int _left = acceptBytes;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length > _left) { _left = 0; throw new IOException("Broken pipe", 32); }
            _left -= buffer.Length;
        }
    }
}
