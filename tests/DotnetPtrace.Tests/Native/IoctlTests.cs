using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;

namespace DotnetPtrace.Tests.Native;

/// <summary>Each perf ioctl against the live kernel, where its effect can be observed.</summary>
public unsafe class IoctlTests
{
    private static ulong _watched;

    /// <summary>A hardware breakpoint (breakpoint PMU, present in VMs) on writes to a static field.</summary>
    private static PerfEventHandle OpenWriteBreakpoint(ulong address, out PerfEventAttr attr)
    {
        attr = new PerfEventAttr
        {
            Type = (uint)PerfType.Breakpoint,
            BpType = 2,            // HW_BREAKPOINT_W
            BpAddr = address,
            BpLen = 8,             // HW_BREAKPOINT_LEN_8
            SamplePeriod = 1,
            SampleType = SampleType.Ip,
            Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv,
        };
        return PerfEvent.Open(ref attr, 0, -1, null, "mem:write");
    }

    private static ulong ReadCount(PerfEventHandle fd)
    {
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd.Fd, ownsHandle: false), FileAccess.Read, 0);
        var buffer = new byte[8];
        Assert.Equal(8, stream.Read(buffer));
        return BitConverter.ToUInt64(buffer);
    }

    [Fact]
    public void Reset_enable_and_disable_control_counting()
    {
        fixed (ulong* p = &_watched)
        {
            using var fd = OpenWriteBreakpoint((ulong)p, out _);
            Volatile.Write(ref _watched, 1);
            Assert.Equal(0UL, ReadCount(fd));   // disabled: not counted
            PerfEvent.Enable(fd);
            for (int i = 0; i < 5; i++) Volatile.Write(ref _watched, (ulong)i);
            PerfEvent.Disable(fd);
            Volatile.Write(ref _watched, 9);
            Assert.Equal(5UL, ReadCount(fd));
            PerfEvent.Reset(fd);
            Assert.Equal(0UL, ReadCount(fd));
        }
    }

    [Fact]
    public void Refresh_enables_for_that_many_overflows()
    {
        fixed (ulong* p = &_watched)
        {
            using var fd = OpenWriteBreakpoint((ulong)p, out _);
            using var ring = DataRing.Map(fd, -1, 1);
            PerfEvent.Refresh(fd, 2);
            for (int i = 0; i < 10; i++) Volatile.Write(ref _watched, (ulong)i);
            // Two overflows (period 1), then the kernel disables the event itself.
            Assert.Equal(2UL, ReadCount(fd));
        }
    }

    [Fact]
    public void Period_changes_the_sampling_period()
    {
        fixed (ulong* p = &_watched)
        {
            using var fd = OpenWriteBreakpoint((ulong)p, out _);
            using var ring = DataRing.Map(fd, -1, 1);
            PerfEvent.SetPeriod(fd, 4);
            PerfEvent.Enable(fd);
            for (int i = 0; i < 20; i++) Volatile.Write(ref _watched, (ulong)i);
            PerfEvent.Disable(fd);
            var counter = new SampleCounter();
            ring.ReadRecords(ref counter);
            Assert.Equal(20UL, ReadCount(fd));
            Assert.Equal(5, counter.Samples);   // one sample per 4 writes
        }
    }

    [Fact]
    public void Modify_attributes_moves_a_breakpoint()
    {
        ulong other = 0;
        fixed (ulong* p = &_watched)
        {
            using var fd = OpenWriteBreakpoint((ulong)p, out var attr);
            PerfEvent.Enable(fd);
            ulong* q = &other;
            attr.BpAddr = (ulong)q;
            attr.Flags &= ~AttrFlags.Disabled;   // the kernel applies 'disabled' from the new attr too
            PerfEvent.ModifyAttributes(fd, ref attr);
            Volatile.Write(ref _watched, 1);   // no longer watched
            Volatile.Write(ref *q, 1);         // watched now
            Volatile.Write(ref *q, 2);
            PerfEvent.Disable(fd);
            Assert.Equal(2UL, ReadCount(fd));
        }
    }

    [Fact]
    public void Set_filter_is_applied_to_a_tracepoint_and_a_bad_one_is_refused()
    {
        var tracefs = new DotnetPtrace.Native.Events.Tracefs();
        Assert.True(tracefs.TryGetEventId("syscalls", "sys_enter_getppid", out ulong id), tracefs.UnavailableReason);
        var attr = new PerfEventAttr { Type = (uint)PerfType.Tracepoint, Config = id, SamplePeriod = 1, Flags = AttrFlags.Disabled };
        using var fd = PerfEvent.Open(ref attr, 0, -1, null, "syscalls:sys_enter_getppid");
        PerfEvent.SetFilter(fd, "common_pid != 0");
        var e = Assert.Throws<PerfException>(() => PerfEvent.SetFilter(fd, "no_such_field == 1"));
        Assert.Contains("set_filter 'no_such_field == 1'", e.Message);
    }

    private struct SampleCounter : IRecordVisitor
    {
        public int Samples;
        public void Visit(in PerfEventHeader header, ReadOnlySpan<byte> record)
        {
            if (header.Type == PerfRecordType.Sample) Samples++;
        }
    }
}
