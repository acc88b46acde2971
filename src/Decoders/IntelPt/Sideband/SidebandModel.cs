using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>Who runs on a CPU from <see cref="Time"/> on (a switch, or the start of tracing there); tid -1: unknown.</summary>
public readonly record struct CpuRun(ulong Time, long Seq, int Tid, int Pid);

/// <summary>An AUX record: the kernel's note about a piece of AUX data, with its loss flags.</summary>
public readonly record struct AuxNote(ulong Time, int Cpu, int Tid, ulong Offset, ulong Size, ulong Flags)
{
    public const ulong FlagTruncated = 1, FlagOverwrite = 2, FlagPartial = 4, FlagCollision = 8;
    public bool Truncated => (Flags & FlagTruncated) != 0;
    public bool Partial => (Flags & FlagPartial) != 0;
    public bool Collision => (Flags & FlagCollision) != 0;
}

/// <summary>
/// What the sideband of a recording says, over time: processes and their mappings (MMAP/MMAP2, exec, fork),
/// threads and their processes, which thread ran on which CPU when (SWITCH, SWITCH_CPU_WIDE, ITRACE_START), and the
/// AUX and LOST notes about lost data. Built once from all records in time order (<see cref="SidebandModelBuilder"/>),
/// then only read, so decoders of several streams may share it.
/// </summary>
public sealed class SidebandModel
{
    internal readonly Dictionary<int, AddressSpaceHistory> Processes = [];
    internal readonly Dictionary<int, int> ThreadPids = [];
    internal readonly Dictionary<int, string> Comms = [];
    internal readonly Dictionary<int, long> ThreadStarts = [];
    internal readonly Dictionary<int, List<CpuRun>> CpuRuns = [];
    internal readonly List<AuxNote> AuxNotes = [];

    /// <summary>Kernel mappings (MMAP of [kernel.kallsyms] and modules, pid -1): part of every process's image.</summary>
    public AddressSpaceHistory Kernel { get; } = new(-1);
    public long LostRecords { get; internal set; }
    public long LostEvents { get; internal set; }
    public long LostSamples { get; internal set; }
    public IReadOnlyList<AuxNote> Aux => AuxNotes;
    public long RecordsSeen { get; internal set; }

    public AddressSpaceHistory? HistoryOf(int pid) => Processes.GetValueOrDefault(pid);

    /// <summary>The process of a thread; the thread's own id when the sideband never said (a main thread, usually).</summary>
    public int PidOf(int tid) => ThreadPids.TryGetValue(tid, out int pid) ? pid : tid;

    public string? CommOf(int tid) => Comms.GetValueOrDefault(tid);

    /// <summary>The sideband position where a thread's tracing starts (ITRACE_START, else its FORK or first COMM).</summary>
    public long StartSeqOf(int tid) => ThreadStarts.TryGetValue(tid, out long s) ? s : long.MaxValue;

    /// <summary>The thread that ran on <paramref name="cpu"/> at perf time <paramref name="time"/>, by the switch sideband.</summary>
    public bool TryGetRunning(int cpu, ulong time, out int tid, out int pid)
    {
        tid = pid = -1;
        if (!CpuRuns.TryGetValue(cpu, out List<CpuRun>? runs) || runs.Count == 0) return false;
        int lo = 0, hi = runs.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (runs[mid].Time <= time) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0 || runs[found].Tid < 0) return false;
        tid = runs[found].Tid;
        pid = runs[found].Pid >= 0 ? runs[found].Pid : PidOf(tid);
        return true;
    }

    /// <summary>The first thread the sideband puts on <paramref name="cpu"/> (for traces without time).</summary>
    public bool TryGetFirstOnCpu(int cpu, out int tid)
    {
        tid = -1;
        if (!CpuRuns.TryGetValue(cpu, out List<CpuRun>? runs)) return false;
        foreach (CpuRun r in runs)
            if (r.Tid > 0) { tid = r.Tid; return true; }
        return false;
    }
}

/// <summary>
/// Feeds records, in time order (<see cref="TimeOrderedReader"/>), into a <see cref="SidebandModel"/>. Damaged
/// records are skipped and counted, never thrown on.
/// </summary>
public sealed class SidebandModelBuilder
{
    private readonly SidebandModel _model = new();
    // The live mappings of each process while building: a forked child starts with a copy of its parent's.
    private readonly Dictionary<int, MappingSet> _live = [];
    private readonly MappingSet _kernelLive = new();
    private long _seq;

    public SidebandModel Model => _model;
    /// <summary>Sideband records too short for their type.</summary>
    public long DamagedRecords { get; private set; }

    /// <summary>Takes one record (others than the sideband types are ignored).</summary>
    public void Add(in PerfRecord r)
    {
        long seq = _seq++;
        ReadOnlySpan<byte> b = r.Bytes;
        SampleIdReader.TryRead(r.Type, b, r.Attr, out SampleIdTrailer id, out int end);
        ulong time = id.Time;
        ushort misc = r.Header.Misc;
        switch (r.Type)
        {
            case PerfRecordType.Mmap:
                if (b.Length < 41) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                AddMapping(time, seq, I32(b, 8), I32(b, 12), U64(b, 16), U64(b, 24), U64(b, 32), Text(b, 40, end),
                    exec: (misc & PerfRecordMisc.MmapData) == 0, buildId: null, kernel: (misc & PerfRecordMisc.CpuModeMask) == PerfRecordMisc.Kernel);
                break;
            case PerfRecordType.Mmap2:
            {
                if (b.Length < 73) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                byte[]? buildId = null;
                if ((misc & PerfRecordMisc.MmapBuildId) != 0)
                {
                    int n = Math.Min((int)b[40], 20);
                    buildId = b.Slice(44, n).ToArray();
                }
                const uint ProtExec = 4;
                bool exec = (BinaryPrimitives.ReadUInt32LittleEndian(b[64..]) & ProtExec) != 0;
                AddMapping(time, seq, I32(b, 8), I32(b, 12), U64(b, 16), U64(b, 24), U64(b, 32), Text(b, 72, end),
                    exec, buildId, kernel: (misc & PerfRecordMisc.CpuModeMask) == PerfRecordMisc.Kernel);
                break;
            }
            case PerfRecordType.Comm:
            {
                if (b.Length < 17) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                int pid = I32(b, 8), tid = I32(b, 12);
                Thread(tid, pid, seq);
                _model.Comms[tid] = Text(b, 16, end);
                if ((misc & PerfRecordMisc.CommExec) != 0)
                {
                    History(pid).Add(new AddressSpaceChange(time, seq, AddressSpaceChangeKind.Exec));
                    Live(pid).Clear();
                }
                break;
            }
            case PerfRecordType.Fork:
            {
                if (b.Length < 24) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                int pid = I32(b, 8), ppid = I32(b, 12), tid = I32(b, 16), ptid = I32(b, 20);
                _model.ThreadPids[tid] = pid;
                _model.ThreadStarts.TryAdd(tid, seq);
                if (_model.Comms.TryGetValue(ptid, out string? comm)) _model.Comms.TryAdd(tid, comm);
                if (pid != ppid)
                {
                    MappingSet copy = _live.TryGetValue(ppid, out MappingSet? parent) ? parent.Clone() : new MappingSet();
                    _live[pid] = copy;
                    History(pid).Add(new AddressSpaceChange(time, seq, AddressSpaceChangeKind.Start, Snapshot: copy.Clone()));
                }
                break;
            }
            case PerfRecordType.Exit:
                if (b.Length < 24) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                break;
            case PerfRecordType.ItraceStart:
            {
                if (b.Length < 16) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                int pid = I32(b, 8), tid = I32(b, 12);
                Thread(tid, pid, seq);
                _model.ThreadStarts[tid] = Math.Min(_model.ThreadStarts.GetValueOrDefault(tid, seq), seq);
                if (r.Attr is { } a && (a.SampleType & SampleType.Cpu) != 0) Run((int)id.Cpu, time, seq, tid, pid);
                break;
            }
            case PerfRecordType.Switch:
            {
                _model.RecordsSeen++;
                if (r.Attr is not { } a || (a.SampleType & (SampleType.Cpu | SampleType.Tid)) != (SampleType.Cpu | SampleType.Tid)) return;
                bool outgoing = (misc & PerfRecordMisc.SwitchOut) != 0;
                Run((int)id.Cpu, time, seq, outgoing ? -1 : (int)id.Tid, outgoing ? -1 : (int)id.Pid);
                break;
            }
            case PerfRecordType.SwitchCpuWide:
            {
                if (b.Length < 16) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                if (r.Attr is not { } a || (a.SampleType & (SampleType.Cpu | SampleType.Tid)) != (SampleType.Cpu | SampleType.Tid)) return;
                bool outgoing = (misc & PerfRecordMisc.SwitchOut) != 0;
                // OUT names the next task, IN is reported by the task coming in.
                int tid = outgoing ? I32(b, 12) : (int)id.Tid, pid = outgoing ? I32(b, 8) : (int)id.Pid;
                if (tid > 0) _model.ThreadPids.TryAdd(tid, pid);
                Run((int)id.Cpu, time, seq, tid, pid);
                break;
            }
            case PerfRecordType.Aux:
                if (b.Length < 32) { DamagedRecords++; return; }
                _model.RecordsSeen++;
                _model.AuxNotes.Add(new AuxNote(time, (int)id.Cpu, (int)id.Tid, U64(b, 8), U64(b, 16), U64(b, 24)));
                break;
            case PerfRecordType.Lost:
                if (b.Length < 24) { DamagedRecords++; return; }
                _model.LostRecords++;
                _model.LostEvents += (long)Math.Min(U64(b, 16), long.MaxValue);
                break;
            case PerfRecordType.LostSamples:
                if (b.Length < 16) { DamagedRecords++; return; }
                _model.LostSamples += (long)Math.Min(U64(b, 8), long.MaxValue);
                break;
        }
    }

    private void AddMapping(ulong time, long seq, int pid, int tid, ulong start, ulong length, ulong pgoff, string path, bool exec, byte[]? buildId, bool kernel)
    {
        if (length == 0 || start + length < start) { DamagedRecords++; return; }
        if (kernel || pid == -1)
        {
            var km = new CodeMapping(start, start + length, pgoff, path, exec, -1, buildId);
            _model.Kernel.Add(new AddressSpaceChange(time, seq, AddressSpaceChangeKind.Map, km));
            _kernelLive.Insert(km);
            return;
        }
        Thread(tid, pid, seq);
        var m = new CodeMapping(start, start + length, pgoff, path, exec, pid, buildId);
        History(pid).Add(new AddressSpaceChange(time, seq, AddressSpaceChangeKind.Map, m));
        Live(pid).Insert(m);
    }

    private void Thread(int tid, int pid, long seq)
    {
        if (tid <= 0 || pid <= 0) return;
        _model.ThreadPids[tid] = pid;
        _model.ThreadStarts.TryAdd(tid, seq);
    }

    private void Run(int cpu, ulong time, long seq, int tid, int pid)
    {
        if (cpu < 0) return;
        if (!_model.CpuRuns.TryGetValue(cpu, out List<CpuRun>? runs)) _model.CpuRuns[cpu] = runs = [];
        runs.Add(new CpuRun(time, seq, tid, pid));
    }

    private AddressSpaceHistory History(int pid)
    {
        if (!_model.Processes.TryGetValue(pid, out AddressSpaceHistory? h)) _model.Processes[pid] = h = new AddressSpaceHistory(pid);
        return h;
    }

    private MappingSet Live(int pid)
    {
        if (!_live.TryGetValue(pid, out MappingSet? s)) _live[pid] = s = new MappingSet();
        return s;
    }

    /// <summary>The NUL-terminated text between <paramref name="start"/> and the sample_id trailer.</summary>
    private static string Text(ReadOnlySpan<byte> record, int start, int end) =>
        end <= start ? "" : CString(record[start..Math.Min(end, record.Length)]);

    private static string CString(ReadOnlySpan<byte> b)
    {
        int nul = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? b[..nul] : b);
    }

    private static int I32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
