using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>Why a recording loop ended.</summary>
public enum StopReason { Requested, TargetExited, AllEventsHungUp, Duration }

/// <summary>
/// The poll loop of a recording: wait until a ring passes its wakeup watermark (or a periodic flush interval
/// passes), then drain every ring into the consumer. Fds that report POLLHUP (their task exited) leave the poll set
/// but their rings keep being drained, so the tail of a trace is never lost; when every fd has hung up the loop
/// stops after a last drain.
/// </summary>
public sealed unsafe class RingPoller(RecordingSession session, IRingConsumer consumer, TimeSpan flushInterval)
{
    /// <summary>Where each AUX ring's bytes go (by ring index), drained in full-trace mode, snapshotted in snapshot
    /// mode; null when the session has no AUX areas.</summary>
    public Func<int, IAuxConsumer>? AuxConsumers { get; init; }

    /// <summary>Snapshot mode: requests (SIGUSR2) that wake the loop for a snapshot; a last one is taken at the end.</summary>
    public SnapshotTrigger? Snapshots { get; init; }

    public long AuxBytesDrained { get; private set; }
    public int SnapshotsTaken { get; private set; }
    /// <summary>Times the loop woke for a snapshot request (several signals close together count once).</summary>
    public int SnapshotRequests { get; private set; }
    /// <summary>Snapshots (per ring) before which the writer had gone round the whole buffer: trace was overwritten unseen.</summary>
    public int SnapshotLaps { get; private set; }
    /// <summary>New bytes left out of snapshots by the snapshot size limit.</summary>
    public long SnapshotBytesSkipped { get; private set; }

    /// <summary>Called after every pass that drained something: a point no later record sorts before (FINISHED_ROUND).</summary>
    public Action? RoundCompleted { get; init; }

    public long BytesDrained { get; private set; }
    public int Wakeups { get; private set; }

    public StopReason Run(Func<bool> targetExited, DateTime? deadline, CancellationToken cancellation)
    {
        RaiseOwnPriority();
        var fds = session.Opened.Select(o => o.Handle).ToList();
        var pollSet = new pollfd[fds.Count + 1];
        int live = fds.Count;
        var alive = new bool[fds.Count];
        var indexOf = new int[fds.Count];
        int gone = (ushort)POLLHUP | (ushort)POLLERR | (ushort)POLLNVAL;
        Array.Fill(alive, true);
        long lastCheck = 0;
        long checkEvery = System.Diagnostics.Stopwatch.Frequency / 20;   // 50 ms: the stop checks cost syscalls
        while (true)
        {
            if (cancellation.IsCancellationRequested) return Finish(StopReason.Requested);
            if (live == 0) return Finish(StopReason.AllEventsHungUp);
            long now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (now - lastCheck >= checkEvery)
            {
                lastCheck = now;
                if (deadline is { } d && DateTime.UtcNow >= d) return Finish(StopReason.Duration);
                if (targetExited()) return Finish(StopReason.TargetExited);
            }

            int n = 0;
            for (int i = 0; i < fds.Count; i++)
            {
                if (!alive[i]) continue;
                pollSet[n] = new pollfd { fd = fds[i].Fd, events = (short)POLLIN };
                indexOf[n++] = i;
            }
            int triggerSlot = -1;
            if (Snapshots is not null)
            {
                triggerSlot = n;
                pollSet[n++] = new pollfd { fd = Snapshots.Fd, events = (short)POLLIN };
            }
            int ready;
            fixed (pollfd* p = pollSet)
            {
                ready = Sys.Poll(p, (ulong)n, (int)flushInterval.TotalMilliseconds);
                if (ready < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno != EINTR) throw new PerfException($"poll failed: {PerfErrorExplainer.Strerror(errno)}", errno);
                }
            }
            if (ready > 0)
            {
                Wakeups++;
                for (int j = 0; j < n; j++)
                {
                    if (j == triggerSlot) continue;
                    if ((pollSet[j].revents & gone) != 0)
                    {
                        alive[indexOf[j]] = false;
                        live--;
                    }
                }
            }
            DrainAll();
            if (triggerSlot >= 0 && (pollSet[triggerSlot].revents & (short)POLLIN) != 0 && Snapshots!.TryTake())
            {
                SnapshotRequests++;
                TakeSnapshot(reenable: true);
            }
        }
    }

    /// <summary>
    /// One snapshot of every snapshot-mode AUX ring, perf's way: disable the AUX events (the PMU stops and publishes
    /// aux_head), drain the data rings up to this point, copy what is new in each AUX area, enable again.
    /// </summary>
    public void TakeSnapshot(bool reenable)
    {
        if (AuxConsumers is null) return;
        var owners = new List<PerfEventHandle>();
        for (int i = 0; i < session.AuxRings.Count; i++)
            if (session.AuxRings[i].Snapshot) owners.Add(session.RingOwners[i].Handle);
        if (owners.Count == 0) return;
        foreach (var owner in owners)
        {
            try { PerfEvent.Disable(owner); } catch (PerfException) { }   // a task that exited: nothing moves anyway
        }
        DrainAll();
        long bytes = 0;
        for (int i = 0; i < session.AuxRings.Count; i++)
        {
            var aux = session.AuxRings[i];
            if (!aux.Snapshot) continue;
            var snapshot = aux.TakeSnapshot(AuxConsumers(i));
            bytes += (long)snapshot.Bytes;
            if (snapshot.Lapped) SnapshotLaps++;
            SnapshotBytesSkipped += (long)snapshot.Skipped;
        }
        AuxBytesDrained += bytes;
        SnapshotsTaken++;
        if (reenable)
            foreach (var owner in owners)
            {
                try { PerfEvent.Enable(owner); } catch (PerfException) { }
            }
        if (bytes > 0) RoundCompleted?.Invoke();
    }

    /// <summary>
    /// The drain must run as soon as the kernel wakes it: every millisecond it waits is ring space the traced program
    /// fills. With privilege (root, CAP_SYS_NICE) this thread gets nice -10, ahead of our own writer thread and other
    /// ordinary work; without it the call fails and nothing changes.
    /// </summary>
    private static void RaiseOwnPriority() => Sys.SetPriority(0 /* PRIO_PROCESS */, Sys.GetTid(), -10);

    /// <summary>One pass over every ring. Returns the bytes drained.</summary>
    public long DrainAll()
    {
        long total = 0;
        foreach (var ring in session.Rings) total += ring.Drain(consumer);
        BytesDrained += total;
        if (AuxConsumers is not null)
        {
            // After the data rings: the PERF_RECORD_AUX records that describe these bytes are then already out.
            for (int i = 0; i < session.AuxRings.Count; i++)
            {
                var aux = session.AuxRings[i];
                if (aux.Snapshot) continue;
                long bytes = (long)aux.Drain(AuxConsumers(i)).Bytes;
                AuxBytesDrained += bytes;
                total += bytes;
            }
        }
        if (total > 0) RoundCompleted?.Invoke();
        return total;
    }

    private StopReason Finish(StopReason reason)
    {
        // Disable first so nothing new lands, then drain to the last byte; in snapshot mode the exit snapshot.
        session.DisableAll();
        DrainAll();
        if (session.AuxRings.Any(a => a.Snapshot)) TakeSnapshot(reenable: false);
        return reason;
    }
}
