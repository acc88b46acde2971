using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using DotnetPtrace.Decoders.Jit;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Jit;

/// <summary>
/// The jitdump reader against files the real .NET runtime wrote, checked against the perf map the same run wrote
/// (the runtime's two outputs: the oracle nobody on the team wrote), and against damaged input.
/// </summary>
public sealed class JitDumpReaderTests(ITestOutputHelper output)
{
    /// <summary>One run of the sample with both files, read once for all the tests of this class.</summary>
    private static readonly Lazy<(int Pid, byte[] Dump, string Map, long Before, long After)> RealRun = new(() =>
    {
        long before = MonotonicNs();
        var r = ProcessRunner.Run("/usr/bin/env", ["DOTNET_PerfMapEnabled=1", "DOTNET_PerfMapStubGranularity=2", DotnetSample.HotLoop, "0.2"], TimeSpan.FromSeconds(60));
        long after = MonotonicNs();
        Assert.Equal(0, r.ExitCode);
        int pid = int.Parse(r.Stdout.Split('\n')[0]["ready ".Length..].Trim());
        try
        {
            return (pid, File.ReadAllBytes($"/tmp/jit-{pid}.dump"), File.ReadAllText($"/tmp/perf-{pid}.map"), before, after);
        }
        finally { DotnetSample.DeleteJitFiles(pid); }
    });

    /// <summary>.NET's Stopwatch on Linux is clock_gettime(CLOCK_MONOTONIC) in nanoseconds.</summary>
    private static long MonotonicNs() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    [Fact]
    public void The_runtime_jitdump_has_the_methods_of_its_perf_map_with_the_same_addresses_sizes_and_names()
    {
        var run = RealRun.Value;
        using var reader = JitDumpReader.Open(new MemoryStream(run.Dump), "jit.dump");
        List<JitRecord> records = reader.ReadAll(out JitDumpException? error);
        Assert.Null(error);
        Assert.Equal(1u, reader.Header.Version);
        Assert.Equal(62u, reader.Header.ElfMachine);   // EM_X86_64
        Assert.Equal(run.Pid, reader.Header.Pid);
        Assert.False(reader.Header.ByteSwapped);
        var loads = records.OfType<JitCodeLoad>().ToList();
        List<PerfMapEntry> map = PerfMapReader.Read(new StringReader(run.Map), out int bad);
        Assert.Equal(0, bad);
        output.WriteLine($"{loads.Count} code loads, {map.Count} perf map lines");

        // Every perf map line is one code load: same start, size and name (the runtime writes both from one call).
        var byStart = loads.GroupBy(l => l.CodeAddress).ToDictionary(g => g.Key, g => g.ToList());
        int matched = 0;
        foreach (PerfMapEntry e in map)
        {
            Assert.True(byStart.TryGetValue(e.Start, out var at), $"perf map line {e.Start:x} {e.Size:x} {e.Name} has no code load in the jitdump");
            Assert.Contains(at!, l => l.CodeSize == e.Size && l.Name == e.Name);
            matched++;
        }
        Assert.True(matched > 20, $"only {matched} perf map lines");
        Assert.Single(loads, l => l.Name.Contains(DotnetSample.HotMethod, StringComparison.Ordinal));

        // Timestamps are CLOCK_MONOTONIC ns (perfjitdump.cpp), within the run, in file order; pids and tids are the process's.
        Assert.InRange((long)reader.Header.Timestamp, run.Before, run.After);
        ulong last = 0;
        foreach (JitCodeLoad l in loads)
        {
            Assert.InRange((long)l.Timestamp, run.Before, run.After);
            Assert.True(l.Timestamp >= last, $"record at 0x{l.Offset:x} goes back in time");
            last = l.Timestamp;
            Assert.Equal(run.Pid, l.Pid);
            Assert.Equal(l.CodeAddress, l.Vma);
        }
        Assert.Equal(loads.Select(l => l.CodeIndex).Distinct().Count(), loads.Count);
    }

    [Fact]
    public void The_history_finds_the_hot_method_by_any_address_inside_it()
    {
        var run = RealRun.Value;
        string path = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-test-jit-{Environment.ProcessId}.dump");
        File.WriteAllBytes(path, run.Dump);
        try
        {
            JitCodeHistory h = JitCodeHistory.Load(path);
            Assert.Null(h.Warning);
            PerfMapEntry hot = PerfMapReader.Read(new StringReader(run.Map), out _).Single(e => e.Name.Contains(DotnetSample.HotMethod, StringComparison.Ordinal));
            foreach (ulong at in new[] { hot.Start, hot.Start + hot.Size / 2, hot.End - 1 })
                Assert.Equal(hot.Name, h.Find(at)?.Name);
            Assert.NotEqual(hot.Name, h.Find(hot.End)?.Name);
            Assert.Contains(h.Within(hot.Start, hot.End), c => c.Name == hot.Name && c.Start == hot.Start);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_dump_cut_anywhere_ends_with_a_message_naming_the_offset_of_the_cut_record()
    {
        byte[] dump = RealRun.Value.Dump;
        using var full = JitDumpReader.Open(new MemoryStream(dump), "jit.dump");
        List<JitRecord> records = full.ReadAll(out _);
        var starts = records.Select(r => r.Offset).Append(dump.Length).ToArray();
        var rng = new Random(8);
        for (int trial = 0; trial < 200; trial++)
        {
            int cut = rng.Next(JitDumpHeader.Size, dump.Length);
            using var reader = JitDumpReader.Open(new MemoryStream(dump, 0, cut), "jit.dump");
            List<JitRecord> got = reader.ReadAll(out JitDumpException? error);
            long recordStart = starts.Last(s => s <= cut);
            if (cut == recordStart)
            {
                Assert.Null(error);   // cut between records: a shorter, valid file
                continue;
            }
            Assert.NotNull(error);
            Assert.Equal(recordStart, error.Offset);
            Assert.Contains($"offset 0x{recordStart:x}", error.Message);
            Assert.Contains("cut short", error.Message);
            Assert.Equal(records.Count(r => r.Offset < recordStart), got.Count);
            if (trial == 0) output.WriteLine(error.Message);
        }
    }

    [Fact]
    public void A_truncated_dump_is_used_up_to_the_cut_and_the_source_says_where_it_was_cut()
    {
        byte[] dump = RealRun.Value.Dump;
        int pid = RealRun.Value.Pid;
        int cut = dump.Length - 10;
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-jitsrc-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, $"jit-{pid}.dump"), dump.AsSpan(0, cut).ToArray());
            var source = new JitCodeSource(dir);
            JitCodeHistory? h = source.For(pid);
            Assert.NotNull(h);
            Assert.True(h.Code.Count > 20);
            string warning = Assert.Single(source.Warnings);
            output.WriteLine(warning);
            Assert.Matches($@"jit-{pid}\.dump: offset 0x[0-9a-f]+: record JIT_CODE_LOAD of \d+ bytes is cut short", warning);
            Assert.Null(source.For(pid + 1));   // no dump: no history, no warning
            Assert.Single(source.Warnings);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("")]
    [InlineData("JiT")]
    public void Too_short_or_wrong_files_are_refused_at_offset_0(string text)
    {
        var e = Assert.Throws<JitDumpException>(() => JitDumpReader.Open(new MemoryStream(Encoding.ASCII.GetBytes(text)), "x.dump"));
        Assert.Equal(0, e.Offset);
        Assert.StartsWith("x.dump: offset 0x0: ", e.Message);
    }

    [Fact]
    public void Damaged_records_are_refused_with_their_offset()
    {
        byte[] header = Header(littleEndian: true);
        // A record claiming 8 bytes (less than its own header).
        byte[] tiny = [.. header, .. Prefix(0, 8, 1, true)];
        var e = Assert.Throws<JitDumpException>(() => ReadAll(tiny));
        Assert.Equal(40, e.Offset);
        Assert.Contains("claims 8 bytes", e.Message);
        // A code load whose name runs to the end of the record.
        byte[] body = new byte[40 + 3];
        body.AsSpan(40).Fill((byte)'x');
        byte[] noNul = [.. header, .. Prefix(0, (uint)(16 + body.Length), 1, true), .. body];
        e = Assert.Throws<JitDumpException>(() => ReadAll(noNul));
        Assert.Contains("no terminating NUL", e.Message);
        // A code load whose code_size is more than the record holds.
        byte[] body2 = new byte[40 + 2];
        BinaryPrimitives.WriteUInt64LittleEndian(body2.AsSpan(24), 1000);
        byte[] big = [.. header, .. Prefix(0, (uint)(16 + body2.Length), 1, true), .. body2];
        e = Assert.Throws<JitDumpException>(() => ReadAll(big));
        Assert.Contains("code_size 1000", e.Message);
        Assert.Equal(40 + 16 + 24, e.Offset);
    }

    [Fact]
    public void A_code_load_without_its_bytes_names_the_range_but_gives_no_code()
    {
        // dotnet/runtime main asks its jitdump writer not to copy the bytes of stub blocks (perfmap.cpp: their memory may
        // not be committed or written yet), so such a record may end at the name.
        byte[] body = new byte[40 + 5];
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), 0x5000);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), 0x5000);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), 0x10000);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(32), 1);
        "stub\0"u8.CopyTo(body.AsSpan(40));
        byte[] file = [.. Header(littleEndian: true), .. Prefix(0, (uint)(16 + body.Length), 5, true), .. body];
        var load = Assert.IsType<JitCodeLoad>(Assert.Single(ReadAll(file)));
        Assert.Equal((0x10000UL, 0, false), (load.CodeSize, load.Code.Length, load.HasCode));
        JitCodeHistory h = JitCodeHistory.FromRecords(1, [load]);
        JitCode code = Assert.IsType<JitCode>(h.Find(0x5000 + 0xfff0));
        Assert.Equal(("stub", false), (code.Name, code.HasBytes));
    }

    [Fact]
    public void A_big_endian_dump_reads_the_same_as_a_little_endian_one()
    {
        foreach (bool le in new[] { true, false })
        {
            byte[] body = new byte[40 + 4 + 3];
            W32(body, 0, 77, le); W32(body, 4, 78, le);
            W64(body, 8, 0x1000, le); W64(body, 16, 0x1000, le); W64(body, 24, 3, le); W64(body, 32, 5, le);
            "abc\0"u8.CopyTo(body.AsSpan(40));
            body[44] = 0x90; body[45] = 0x90; body[46] = 0xc3;
            byte[] file = [.. Header(le), .. Prefix(0, (uint)(16 + body.Length), 123, le), .. body, .. Prefix(3, 16, 124, le)];
            using var reader = JitDumpReader.Open(new MemoryStream(file), "x");
            Assert.Equal(!le, reader.Header.ByteSwapped);
            Assert.Equal(4242, reader.Header.Pid);
            var records = reader.ReadAll(out var error);
            Assert.Null(error);
            var load = Assert.IsType<JitCodeLoad>(records[0]);
            Assert.Equal((77, 78, 0x1000UL, 5UL, "abc", 123UL), (load.Pid, load.Tid, load.CodeAddress, load.CodeIndex, load.Name, load.Timestamp));
            Assert.Equal(new byte[] { 0x90, 0x90, 0xc3 }, load.Code);
            Assert.IsType<JitCodeClose>(records[1]);
        }
    }

    [Fact]
    public void Moves_and_overwrites_end_old_code_and_time_picks_the_version()
    {
        JitCodeHistory h = JitCodeHistory.FromRecords(1,
        [
            new JitCodeLoad(0, 10, 1, 1, 0x1000, 0x1000, 1, "A", new byte[16]),
            new JitCodeLoad(0, 20, 1, 1, 0x2000, 0x2000, 2, "B", new byte[16]),
            new JitCodeMove(0, 30, 1, 1, 0x1000, 0x1000, 0x3000, 16, 1),
            new JitCodeLoad(0, 40, 1, 1, 0x2008, 0x2008, 3, "C", new byte[16]),
        ]);
        Assert.Equal("A", h.Find(0x1004, 15)?.Name);
        Assert.Equal("A", h.Find(0x3004, 35)?.Name);
        Assert.Equal("B", h.Find(0x2009, 25)?.Name);
        Assert.Equal("C", h.Find(0x2009, 45)?.Name);
        Assert.Equal("C", h.Find(0x2009)?.Name);            // no time: the version loaded last
        Assert.Equal("B", h.Find(0x2009, 5)?.Name);         // before any load: the first one loaded after
        Assert.Null(h.Find(0x2018 + 0x10));
        Assert.Equal(40UL, h.Code.Single(c => c.Name == "B").EndTime);
        Assert.Equal(30UL, h.Code.Single(c => c.Name == "A" && c.Start == 0x1000).EndTime);
    }

    [Fact]
    public void Random_damage_never_escapes_as_anything_but_a_jitdump_error()
    {
        byte[] dump = RealRun.Value.Dump.AsSpan(0, Math.Min(RealRun.Value.Dump.Length, 64 * 1024)).ToArray();
        var rng = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            byte[] copy = (byte[])dump.Clone();
            for (int flips = rng.Next(1, 8); flips > 0; flips--) copy[rng.Next(copy.Length)] ^= (byte)(1 << rng.Next(8));
            try
            {
                using var reader = JitDumpReader.Open(new MemoryStream(copy), "x");
                reader.ReadAll(out _);
            }
            catch (JitDumpException) { }
        }
    }

    private static List<JitRecord> ReadAll(byte[] file)
    {
        using var reader = JitDumpReader.Open(new MemoryStream(file), "x");
        var list = new List<JitRecord>();
        while (reader.TryRead(out JitRecord r)) list.Add(r);
        return list;
    }

    private static byte[] Header(bool littleEndian)
    {
        var h = new byte[40];
        W32(h, 0, JitDumpHeader.Magic, littleEndian); W32(h, 4, 1, littleEndian); W32(h, 8, 40, littleEndian);
        W32(h, 12, 62, littleEndian); W32(h, 20, 4242, littleEndian); W64(h, 24, 99, littleEndian);
        return h;
    }

    private static byte[] Prefix(uint id, uint size, ulong time, bool le)
    {
        var p = new byte[16];
        W32(p, 0, id, le); W32(p, 4, size, le); W64(p, 8, time, le);
        return p;
    }

    private static void W32(byte[] b, int o, uint v, bool le)
    {
        if (le) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v); else BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(o), v);
    }

    private static void W64(byte[] b, int o, ulong v, bool le)
    {
        if (le) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(o), v); else BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(o), v);
    }
}
