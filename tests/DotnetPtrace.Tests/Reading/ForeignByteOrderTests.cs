using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// A perf.data as a big-endian machine writes it (magic "2ELIFREP"), built here field by field from the uapi and
/// perf.data layouts with big-endian writes and big-endian bitfield order. Linux perf reads such files (its
/// needs_swap path): it is the oracle for both the file and our reading of it.
/// </summary>
public sealed class ForeignByteOrderTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-bigendian-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const int Pid = 5150;
    private const ulong ClockId = 71, DummyId = 72;
    // IDENTIFIER | IP | TID | TIME | CPU | PERIOD
    private const ulong Layout = (1UL << 16) | 1 | 2 | 4 | (1UL << 7) | (1UL << 8);

    [Fact]
    public void A_big_endian_file_reads_as_perf_reads_it()
    {
        string binary = SampleBinaries.CpuBound;
        ulong hot = SymbolAddress(binary, "hot_spin"), main = SymbolAddress(binary, "main");
        string path = Path.Combine(_dir, "be.data");
        File.WriteAllBytes(path, BuildFile(binary, hot, main));

        var perf = Perf.Run("script", "-i", path, "-F", "comm,pid,tid,cpu,time,period,event,ip,sym,dso");
        Assert.True(perf.ExitCode == 0, perf.ToString());
        var ours = Tool.Run(["script", "-i", path, "-F", "comm,pid,tid,cpu,time,period,event,ip,sym,dso"]);
        Assert.True(ours.ExitCode == 0, ours.ToString());
        string[] expected = Lines(perf.Stdout), actual = Lines(ours.Stdout);
        log.WriteLine(string.Join("\n", actual));
        Assert.Equal(6, expected.Length);
        Assert.Contains(expected, l => l.Contains("hot_spin"));
        Assert.Equal(expected, actual);

        var perfHeader = Perf.Run("report", "--header-only", "-i", path);
        var ourHeader = Tool.Run(["dump", "--header", "-i", path]);
        string[] wanted = ["# hostname", "# os release", "# arch", "# nrcpus online", "# nrcpus avail", "# cmdline"];
        string[] Pick(string text) => Lines(text).Where(l => wanted.Any(w => l.StartsWith(w, StringComparison.Ordinal))).ToArray();
        Assert.Equal(6, Pick(perfHeader.Stdout).Length);
        Assert.Equal(Pick(perfHeader.Stdout), Pick(ourHeader.Stdout));

        // Every record type perf counts, we count (dump -D style statistics agree).
        var (counts, error) = TestDataFiles.ReadCounts(path);
        Assert.Null(error);
        Assert.Equal(TestDataFiles.PerfStats(path)!.OrderBy(kv => kv.Key), counts.OrderBy(kv => kv.Key));
    }

    private static string[] Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => Regex.Replace(l.Trim(), @"\s+", " ")).ToArray();

    private static ulong SymbolAddress(string binary, string name)
    {
        var nm = ProcessRunner.Run("nm", [binary], TimeSpan.FromSeconds(30));
        var m = Regex.Match(nm.Stdout, $@"^([0-9a-f]+) T {name}$", RegexOptions.Multiline);
        Assert.True(m.Success, $"nm found no {name} in {binary}");
        return Convert.ToUInt64(m.Groups[1].Value, 16);
    }

    /// <summary>The whole file: header, two attrs with their ids, the data, and a few string features.</summary>
    private static byte[] BuildFile(string binary, ulong hot, ulong main)
    {
        const int AttrSize = 112;   // PERF_ATTR_SIZE_VER7
        const ulong Base = 0x5555_0000_0000;
        var data = new BigEndianBytes();
        data.Raw(Comm(Pid, Pid, "cpu_bound", 900));
        data.Raw(Mmap2(Pid, Pid, Base, 0x10000, 0, binary, 950));
        ulong[] ips = [hot + 4, hot + 8, main + 4, hot + 12, hot + 4, hot + 16];
        for (int i = 0; i < ips.Length; i++)
            data.Raw(Sample(ClockId, Base + ips[i], 1_000_000_000UL + (ulong)i * 250_000, (uint)(i % 2)));
        data.Raw(Header(68, 0, 8));   // FINISHED_ROUND

        var file = new BigEndianBytes();
        const int HeaderSize = 104;
        int attrsAt = HeaderSize, idsAt = attrsAt + 2 * (AttrSize + 16), dataAt = idsAt + 16;
        int featuresAt = dataAt + data.Length;
        file.Raw(Encoding.ASCII.GetBytes("2ELIFREP")).U64(HeaderSize).U64(AttrSize + 16);
        file.U64((ulong)attrsAt).U64((ulong)(2 * (AttrSize + 16)));
        file.U64((ulong)dataAt).U64((ulong)data.Length);
        file.U64(0).U64(0);   // event_types
        // Features: HOSTNAME 3, OSRELEASE 4, ARCH 6, NRCPUS 7, CMDLINE 11, EVENT_DESC 12; the bitmap is u64 words.
        int[] features = [3, 4, 6, 7, 11, 12];
        ulong bits = 0;
        foreach (int f in features) bits |= 1UL << f;
        file.U64(bits).U64(0).U64(0).U64(0);

        // attrs: cpu-clock (software 1, config 0) and dummy (config 9) with mmap/comm/task sideband.
        byte[] clock = Attr(AttrSize, config: 0, period: 4000, flags: [0 /*disabled*/, 10 /*freq*/, 18 /*sample_id_all*/]);
        byte[] dummy = Attr(AttrSize, config: 9, period: 1, flags: [0, 8 /*mmap*/, 9 /*comm*/, 13 /*task*/, 18, 23 /*mmap2*/, 24 /*comm_exec*/]);
        file.Raw(clock).U64((ulong)idsAt).U64(8);
        file.Raw(dummy).U64((ulong)idsAt + 8).U64(8);
        file.U64(ClockId).U64(DummyId);
        file.Raw(data.ToArray());

        var payloads = new List<byte[]>
        {
            PerfString("bigbox"), PerfString("6.1.0-ppc64"), PerfString("ppc64"),
            new BigEndianBytes().U32(2).U32(2).ToArray(),
            new BigEndianBytes().U32(2).Raw(PerfString("perf")).Raw(PerfString("record")).ToArray(),
            EventDesc(AttrSize, [(clock, "cpu-clock", ClockId), (dummy, "dummy:u", DummyId)]),
        };
        ulong at = (ulong)(featuresAt + 16 * payloads.Count);
        foreach (byte[] p in payloads) { file.U64(at).U64((ulong)p.Length); at += (ulong)p.Length; }
        foreach (byte[] p in payloads) file.Raw(p);
        return file.ToArray();
    }

    /// <summary>
    /// perf_event_attr as a big-endian compiler lays it out: fields big-endian, and bitfield bit k of the flags word
    /// in byte k/8 at bit 7 - k%8 (allocation from the most significant bit).
    /// </summary>
    private static byte[] Attr(int size, ulong config, ulong period, int[] flags)
    {
        var a = new byte[size];
        BinaryPrimitives.WriteUInt32BigEndian(a.AsSpan(0), 1);            // PERF_TYPE_SOFTWARE
        BinaryPrimitives.WriteUInt32BigEndian(a.AsSpan(4), (uint)size);
        BinaryPrimitives.WriteUInt64BigEndian(a.AsSpan(8), config);
        BinaryPrimitives.WriteUInt64BigEndian(a.AsSpan(16), period);
        BinaryPrimitives.WriteUInt64BigEndian(a.AsSpan(24), Layout);
        BinaryPrimitives.WriteUInt64BigEndian(a.AsSpan(32), 4);           // read_format ID
        foreach (int k in flags) a[40 + k / 8] |= (byte)(0x80 >> (k % 8));
        return a;
    }

    private static byte[] EventDesc(int attrSize, (byte[] Attr, string Name, ulong Id)[] events)
    {
        var b = new BigEndianBytes().U32((uint)events.Length).U32((uint)attrSize);
        foreach (var (attr, name, id) in events) b.Raw(attr).U32(1).Raw(PerfString(name)).U64(id);
        return b.ToArray();
    }

    /// <summary>perf's header string: u32 length (NUL and padding to 64 included), then the bytes.</summary>
    private static byte[] PerfString(string s)
    {
        int len = (Encoding.UTF8.GetByteCount(s) + 1 + 63) & ~63;
        var bytes = new byte[len];
        Encoding.UTF8.GetBytes(s, bytes);
        return new BigEndianBytes().U32((uint)len).Raw(bytes).ToArray();
    }

    private static byte[] Header(uint type, ushort misc, int size) => new BigEndianBytes().U32(type).U16(misc).U16((ushort)size).ToArray();

    /// <summary>The sample_id_all trailer of the dummy event: {pid, tid}, time, {cpu, res}, identifier.</summary>
    private static BigEndianBytes Trailer(BigEndianBytes b, ulong time) => b.U32(Pid).U32(Pid).U64(time).U32(0).U32(0).U64(DummyId);

    private static byte[] Comm(int pid, int tid, string comm, ulong time)
    {
        var body = new BigEndianBytes().U32((uint)pid).U32((uint)tid).Raw(Padded(comm));
        Trailer(body, time);
        return new BigEndianBytes().Raw(Header(3, 0x2000 /*COMM_EXEC*/, 8 + body.Length)).Raw(body.ToArray()).ToArray();
    }

    private static byte[] Mmap2(int pid, int tid, ulong addr, ulong len, ulong pgoff, string file, ulong time)
    {
        var body = new BigEndianBytes().U32((uint)pid).U32((uint)tid).U64(addr).U64(len).U64(pgoff)
            .U32(8).U32(1).U64(1234).U64(0).U32(5 /*r-x*/).U32(2 /*MAP_PRIVATE*/).Raw(Padded(file));
        Trailer(body, time);
        return new BigEndianBytes().Raw(Header(10, 2 /*user*/, 8 + body.Length)).Raw(body.ToArray()).ToArray();
    }

    private static byte[] Sample(ulong id, ulong ip, ulong time, uint cpu)
    {
        var body = new BigEndianBytes().U64(id).U64(ip).U32(Pid).U32(Pid).U64(time).U32(cpu).U32(0).U64(250_000);
        return new BigEndianBytes().Raw(Header(9, 2 /*user*/, 8 + body.Length)).Raw(body.ToArray()).ToArray();
    }

    private static byte[] Padded(string s)
    {
        var bytes = new byte[(Encoding.UTF8.GetByteCount(s) + 1 + 7) & ~7];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    private sealed class BigEndianBytes
    {
        private readonly List<byte> _b = [];
        public int Length => _b.Count;
        public BigEndianBytes U16(ushort v) { Span<byte> s = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(s, v); _b.AddRange(s.ToArray()); return this; }
        public BigEndianBytes U32(uint v) { Span<byte> s = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(s, v); _b.AddRange(s.ToArray()); return this; }
        public BigEndianBytes U64(ulong v) { Span<byte> s = stackalloc byte[8]; BinaryPrimitives.WriteUInt64BigEndian(s, v); _b.AddRange(s.ToArray()); return this; }
        public BigEndianBytes Raw(byte[] bytes) { _b.AddRange(bytes); return this; }
        public byte[] ToArray() => [.. _b];
    }
}
