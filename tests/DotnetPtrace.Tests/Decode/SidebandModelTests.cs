using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Tests.Decode;

/// <summary>
/// The sideband model against the kernel's semantics of mmap (a new mapping replaces what it covers, file offsets
/// move with the start), fork (the child has the parent's mappings as they were) and exec (the old image is gone),
/// and the stream context that applies them at tracing boundaries, timed and timeless.
/// </summary>
public sealed class SidebandModelTests
{
    private const SampleType Layout = SampleType.Tid | SampleType.Time | SampleType.Cpu | SampleType.Identifier;
    private const uint ProtRx = 5, ProtRw = 3;
    private static readonly EventAttrInfo Attr = new(0, new PerfEventAttr { SampleType = Layout, Flags = AttrFlags.SampleIdAll }, [], [1]);
    private readonly RecordBuilder _build = new(Layout);
    private readonly SidebandModelBuilder _model = new();

    private void Add(byte[] bytes) => _model.Add(new PerfRecord { Header = PerfEventHeader.Read(bytes), Bytes = bytes, Attr = Attr, AuxPayloadOffset = -1 });
    private static SampleIdTrailer At(uint pid, ulong time, uint cpu = 0) => new(pid, pid, time, 1, 0, cpu);

    private void Map(uint pid, ulong time, ulong start, ulong length, ulong pgoff, string path, uint prot = ProtRx) =>
        Add(_build.Mmap2(pid, pid, start, length, pgoff, 8, 1, 42, prot, 2, path, default, PerfRecordMisc.User, At(pid, time)));

    [Fact]
    public void An_mmap_over_code_cuts_it_and_the_file_offsets_follow()
    {
        Map(10, 1, 0x1000, 0x4000, 0, "/bin/a");
        Map(10, 2, 0x2000, 0x1000, 0x7000, "/bin/b", ProtRw);
        var cursor = new AddressSpaceCursor();
        cursor.Reset(_model.Model.HistoryOf(10));
        Assert.True(cursor.AdvanceToTime(2));
        Assert.Equal(
            [new CodeMapping(0x1000, 0x2000, 0, "/bin/a", true, 10), new CodeMapping(0x2000, 0x3000, 0x7000, "/bin/b", false, 10), new CodeMapping(0x3000, 0x5000, 0x2000, "/bin/a", true, 10)],
            cursor.State.Mappings);
    }

    [Fact]
    public void A_forked_child_has_its_parents_mappings_of_then_and_exec_clears_them()
    {
        Map(10, 10, 0x1000, 0x1000, 0, "/bin/parent");
        Add(_build.Fork(20, 10, 20, 10, 20, At(20, 20)));
        Map(10, 30, 0x8000, 0x1000, 0, "/lib/later");
        Add(_build.Comm(20, 20, "child", exec: true, At(20, 40)));
        Map(20, 41, 0x5000, 0x1000, 0, "/bin/new");
        var child = new AddressSpaceCursor();
        child.Reset(_model.Model.HistoryOf(20));
        child.AdvanceToTime(35);
        Assert.Equal(["/bin/parent"], child.State.Mappings.Select(m => m.Path));
        child.AdvanceToTime(41);
        Assert.Equal(["/bin/new"], child.State.Mappings.Select(m => m.Path));
        Assert.Equal(10, _model.Model.PidOf(10));
        Assert.Equal(20, _model.Model.PidOf(20));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_context_applies_the_sideband_at_enables_and_finds_an_exec_the_clock_has_not_reached(bool timed)
    {
        Add(_build.Comm(7, 7, "a", exec: true, At(7, 5)));
        Map(7, 5, 0x1000, 0x1000, 0, "/bin/a");
        Add(_build.ItraceStart(7, 7, At(7, 6)));
        Map(7, 50, 0x9000, 0x1000, 0, "/lib/liba");          // an mmap while the program runs
        Add(_build.Comm(7, 7, "b", exec: true, At(7, 100)));  // then exec
        Map(7, 100, 0x3000, 0x1000, 0, "/bin/b");
        var context = new StreamContext(_model.Model, new ImageSource(), timed ? new PerfTimeConversion(0, 1, 0, true) : PerfTimeConversion.None,
            new StreamKey(false, -1, 7, 0));

        Enable(context, 10, 0x1100);
        Assert.Equal("/bin/a", context.MappingAt(0x1100)?.Path);
        Assert.Null(context.MappingAt(0x3000));
        // After the mmap's system call: the library is there (timed: by time; timeless: it only adds code).
        Enable(context, 60, 0x1200);
        Assert.Equal("/lib/liba", context.MappingAt(0x9000)?.Path);
        Assert.Equal("/bin/a", context.MappingAt(0x1200)?.Path);
        // After exec, the clock estimate (99) is short of the sideband's time (100): the enable's target decides.
        Enable(context, 99, 0x3010);
        Assert.Equal("/bin/b", context.MappingAt(0x3010)?.Path);
        Assert.Null(context.MappingAt(0x1100));
        Assert.Equal(7, context.Tid);
    }

    private static void Enable(StreamContext context, ulong tsc, ulong ip)
    {
        var disabled = new PtEvent { Type = PtEventType.Disabled, IpSuppressed = true, HasTsc = true, Tsc = tsc - 1 };
        context.OnEvent(disabled);
        var enabled = new PtEvent { Type = PtEventType.Enabled, Ip = ip, HasTsc = true, Tsc = tsc };
        context.OnEvent(enabled);
    }

    [Fact]
    public void Cpu_wide_switches_say_who_runs_where_when()
    {
        // OUT names the next task; IN comes from the task switched in.
        Add(Switch(outgoing: true, next: 300, self: 100, time: 10, cpu: 2));
        Add(Switch(outgoing: false, next: 100, self: 300, time: 11, cpu: 2));
        Add(Switch(outgoing: true, next: 0, self: 300, time: 20, cpu: 2));
        SidebandModel m = _model.Model;
        Assert.False(m.TryGetRunning(2, 5, out _, out _));
        Assert.True(m.TryGetRunning(2, 10, out int tid, out _));
        Assert.Equal(300, tid);
        Assert.True(m.TryGetRunning(2, 15, out tid, out _));
        Assert.Equal(300, tid);
        Assert.False(m.TryGetRunning(3, 15, out _, out _));
        Assert.True(m.TryGetRunning(2, 25, out tid, out _));
        Assert.Equal(0, tid);   // the idle task (perf's "swapper")
    }

    private static byte[] Switch(bool outgoing, uint next, uint self, ulong time, uint cpu)
    {
        int trailer = SampleIdTrailer.SizeFor(Layout);
        var bytes = new byte[16 + trailer];
        new PerfEventHeader(PerfRecordType.SwitchCpuWide, outgoing ? PerfRecordMisc.SwitchOut : (ushort)0, (ushort)bytes.Length).Write(bytes);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), next);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), next);
        new SampleIdTrailer(self, self, time, 1, 0, cpu).Write(bytes.AsSpan(16), Layout);
        return bytes;
    }
}
