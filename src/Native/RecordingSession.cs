using DotnetPtrace.Decoders.Abi;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>An event to open: its display name and its fully configured attr.</summary>
public sealed record EventConfig(string Name, PerfEventAttr Attr);

/// <summary>One opened event on one (task, CPU): the fd and the id the kernel stamps on its records.</summary>
public sealed record OpenedEvent(int EventIndex, int Task, int Cpu, PerfEventHandle Handle, ulong Id);

/// <summary>
/// The events of one recording, opened over CPUs x tasks, with one data ring per CPU: the first event opened on a
/// CPU owns the ring and every other event on that CPU is redirected into it (PERF_EVENT_IOC_SET_OUTPUT, which
/// requires the same CPU). This is libperf's evlist: open, mmap, enable, disable, close, in that order.
/// </summary>
public sealed class RecordingSession : IDisposable
{
    private readonly List<OpenedEvent> _opened = [];
    private readonly List<DataRing> _rings = [];
    private readonly List<AuxRing> _auxRings = [];
    private readonly List<OpenedEvent> _ringOwners = [];

    public IReadOnlyList<EventConfig> Events { get; }
    public IReadOnlyList<OpenedEvent> Opened => _opened;
    public IReadOnlyList<DataRing> Rings => _rings;
    /// <summary>The AUX area of each ring (same index as <see cref="Rings"/>), when the first event has one (Intel PT).</summary>
    public IReadOnlyList<AuxRing> AuxRings => _auxRings;
    public RecordTarget Target { get; }
    /// <summary>The event that owns each ring (same index as <see cref="Rings"/>): with AUX, the AUX event itself, whose
    /// task and CPU an AUXTRACE record names and which a snapshot disables and enables.</summary>
    public IReadOnlyList<OpenedEvent> RingOwners => _ringOwners;
    /// <summary>One ring per task (cpu -1) instead of one per CPU.</summary>
    public bool PerThread { get; private init; }

    private RecordingSession(IReadOnlyList<EventConfig> events, RecordTarget target)
    {
        Events = events;
        Target = target;
    }

    /// <summary>
    /// Opens every event on every CPU for every task of <paramref name="target"/>. A task that exits while we open
    /// (ESRCH) is skipped when others remain, since threads come and go; any other failure closes what was opened
    /// and throws a <see cref="PerfException"/> that says why.
    /// </summary>
    /// <param name="auxPages">AUX pages per ring (0: none). Event 0 must then be the AUX event (Intel PT): it owns each
    /// ring, and perf's rule is the same ("the auxtrace event must come first").</param>
    /// <param name="auxSnapshot">Map the AUX areas read-only: the kernel's overwrite (snapshot) mode.</param>
    /// <param name="perThread">perf's --per-thread: every event on every task with cpu -1 and one ring per task
    /// (SET_OUTPUT of a cpu -1 event must stay within its task); <paramref name="cpus"/> is ignored. The attrs must
    /// not ask for inherit, which the kernel refuses to mmap for per-task events.</param>
    public static RecordingSession Open(IReadOnlyList<EventConfig> events, RecordTarget target, IReadOnlyList<int> cpus,
        int dataPages, Func<IReadOnlyList<string>>? pmusPresent = null, int auxPages = 0, bool auxSnapshot = false, bool perThread = false)
    {
        if (perThread && target is RecordTarget.SystemWide)
            throw new PerfException("per-thread mode needs tasks to follow, not every task on the system");
        var session = new RecordingSession(events, target) { PerThread = perThread };
        // Each ring group shares one ring: a CPU with every task on it, or (per-thread) one task on any CPU.
        var groups = perThread
            ? target.Tasks.Select(t => (Cpu: -1, Tasks: (IReadOnlyList<int>)[t]))
            : cpus.Select(c => (Cpu: c, Tasks: target.Tasks));
        try
        {
            foreach (var (cpu, tasks) in groups)
            {
                PerfEventHandle? ringOwner = null;
                foreach (int task in tasks)
                {
                    for (int e = 0; e < events.Count; e++)
                    {
                        var attr = events[e].Attr;
                        PerfEventHandle fd;
                        try
                        {
                            fd = PerfEvent.Open(ref attr, task, cpu, group: null, events[e].Name, pmusPresent);
                        }
                        catch (PerfException ex) when (ex.Errno == ESRCH && target is RecordTarget.Threads t && t.Tids.Count > 1)
                        {
                            break;   // this thread exited; its siblings are still worth recording
                        }
                        var opened = new OpenedEvent(e, task, cpu, fd, PerfEvent.GetId(fd));
                        session._opened.Add(opened);
                        if (ringOwner is null)
                        {
                            var ring = DataRing.Map(fd, cpu, dataPages);
                            session._rings.Add(ring);
                            session._ringOwners.Add(opened);
                            ringOwner = fd;
                            if (auxPages > 0)
                            {
                                try { session._auxRings.Add(AuxRing.Map(ring, auxPages, auxSnapshot)); }
                                catch (PerfException ex) when (ex.Errno == Tmds.Linux.LibC.EOPNOTSUPP)
                                {
                                    throw new PerfException($"event '{events[e].Name}' has no AUX area (only PMUs such as intel_pt do)", ex.Errno);
                                }
                            }
                        }
                        else PerfEvent.SetOutput(fd, ringOwner);
                    }
                }
            }
            if (session._opened.Count == 0)
                throw new PerfException("no event could be opened: every target thread has exited");
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The kernel ids of each event, in event order: what perf.data's attr section lists.</summary>
    public ulong[] IdsOf(int eventIndex) => _opened.Where(o => o.EventIndex == eventIndex).Select(o => o.Id).ToArray();

    /// <summary>The id of the first opened instance of an event, used to attribute synthesized records to it.</summary>
    public ulong FirstIdOf(int eventIndex) => _opened.First(o => o.EventIndex == eventIndex).Id;

    public void EnableAll()
    {
        foreach (var o in _opened) PerfEvent.Enable(o.Handle);
    }

    /// <summary>Stops every event; a task that already exited makes its fd refuse nothing, so errors are ignored.</summary>
    public void DisableAll()
    {
        foreach (var o in _opened)
        {
            try { PerfEvent.Disable(o.Handle); } catch (PerfException) { }
        }
    }

    /// <summary>Teardown order: unmap AUX, unmap the data rings, then close the fds.</summary>
    public void Dispose()
    {
        foreach (var a in _auxRings) a.Dispose();
        _auxRings.Clear();
        foreach (var r in _rings) r.Dispose();
        _rings.Clear();
        foreach (var o in _opened) o.Handle.Dispose();
        _opened.Clear();
        _ringOwners.Clear();
    }
}
