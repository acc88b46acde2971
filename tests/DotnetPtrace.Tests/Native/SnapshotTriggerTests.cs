using System.Diagnostics;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;

namespace DotnetPtrace.Tests.Native;

/// <summary>SIGUSR2 reaches the poll loop at once: PosixSignalRegistration (raw signal 12), an eventfd in the poll set.</summary>
public class SnapshotTriggerTests
{
    [Fact]
    public void SIGUSR2_to_this_process_requests_a_snapshot()
    {
        using var trigger = new SnapshotTrigger();
        Assert.False(trigger.TryTake());
        using (trigger.RequestOn(Signals.SIGUSR2))
        {
            Assert.True(Signals.Send(Environment.ProcessId, Signals.SIGUSR2));
            Assert.True(SpinUntil(trigger.TryTake, TimeSpan.FromSeconds(5)), "the signal did not arrive");
            Assert.False(trigger.TryTake());   // one request, taken once
        }
    }

    [Fact]
    public async Task The_poll_loop_wakes_for_a_request_long_before_its_flush_interval()
    {
        // A live session on this process (a software event: no AUX area, so the snapshot itself is empty), a 30 s
        // flush interval: only the eventfd can wake the loop.
        var attr = new PerfEventAttr
        {
            Type = (uint)PerfType.Software, Config = (ulong)SoftwareEvent.Dummy, SamplePeriod = 1,
            SampleType = SampleType.Tid, Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel,
        };
        using var session = RecordingSession.Open([new EventConfig("dummy:u", attr)],
            new RecordTarget.Threads([Environment.ProcessId], [Environment.ProcessId]), [0], 1);
        using var trigger = new SnapshotTrigger();
        var poller = new RingPoller(session, new NullRing(), TimeSpan.FromSeconds(30)) { Snapshots = trigger };
        using var stop = new CancellationTokenSource();
        var loop = Task.Factory.StartNew(() => poller.Run(() => false, null, stop.Token), TaskCreationOptions.LongRunning);
        Thread.Sleep(200);   // the loop is in poll
        var clock = Stopwatch.StartNew();
        trigger.Request();
        Assert.True(SpinUntil(() => poller.SnapshotRequests == 1, TimeSpan.FromSeconds(5)), "the loop did not wake");
        var latency = clock.Elapsed;
        stop.Cancel();
        trigger.Request();   // wake it once more to see the cancellation
        Assert.Equal(StopReason.Requested, await loop);
        Assert.True(latency < TimeSpan.FromMilliseconds(500), $"woke after {latency.TotalMilliseconds} ms");
    }

    private static bool SpinUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (condition()) return true;
            Thread.Sleep(5);
        }
        return condition();
    }

    private sealed class NullRing : IRingConsumer
    {
        public void Consume(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) { }
    }
}

/// <summary>--per-thread at the session level: one ring per task, opened with cpu -1; the kernel's reason for no inherit.</summary>
public class PerThreadSessionTests
{
    private static PerfEventAttr Dummy(bool inherit) => new()
    {
        Type = (uint)PerfType.Software, Config = (ulong)SoftwareEvent.Dummy, SamplePeriod = 1, SampleType = SampleType.Tid,
        Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel | AttrFlags.Mmap | AttrFlags.Comm | (inherit ? AttrFlags.Inherit : 0),
    };

    [Fact]
    public void Each_task_gets_its_own_ring_with_cpu_minus_one()
    {
        using var child = System.Diagnostics.Process.Start("/bin/sleep", "5");
        try
        {
            int[] tids = [Environment.ProcessId, child.Id];
            using var session = RecordingSession.Open([new EventConfig("dummy:u", Dummy(false)), new EventConfig("dummy:u", Dummy(false))],
                new RecordTarget.Threads(tids, tids), [0, 1], 1, perThread: true);
            Assert.True(session.PerThread);
            Assert.Equal(2, session.Rings.Count);
            Assert.Equal(tids, session.RingOwners.Select(o => o.Task));
            Assert.All(session.Opened, o => Assert.Equal(-1, o.Cpu));
            Assert.Equal(4, session.Opened.Count);   // both events on both tasks; the second redirected into its task's ring
        }
        finally { child.Kill(); }
    }

    [Fact]
    public void The_kernel_refuses_to_map_an_inherited_per_thread_event()
    {
        // Why --per-thread turns inheritance off (perf does the same): mmap of an inherit event with cpu -1 is EINVAL.
        var e = Assert.Throws<PerfException>(() => RecordingSession.Open([new EventConfig("dummy:u", Dummy(true))],
            new RecordTarget.Threads([Environment.ProcessId], [Environment.ProcessId]), [0], 1, perThread: true));
        Assert.Equal(Tmds.Linux.LibC.EINVAL, e.Errno);
    }

    [Fact]
    public void Per_thread_mode_needs_tasks()
    {
        Assert.Throws<PerfException>(() => RecordingSession.Open([new EventConfig("dummy:u", Dummy(false))], new RecordTarget.SystemWide(), [0], 1, perThread: true));
    }
}
