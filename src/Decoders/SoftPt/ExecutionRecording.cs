namespace DotnetPtrace.Decoders.SoftPt;

// The record of one single-stepped run (the software-PT ground truth): what every thread executed, in order, what
// changed the process picture around it, and the code bytes that ran. The tracer in src/Native fills it; the PT
// encoder and the perf.data composer in src/Decoders read it. Pure data, no syscalls.
//
// Time is the tracer's global step counter: it grows by one at every stop the tracer handles, across all threads,
// so sideband events and instructions of different threads have one order. It is deterministic for one thread and
// is the clock the encoder turns into TSC/MTC/CYC.

/// <summary>Everything one traced run produced.</summary>
public sealed class ExecutionRecording
{
    /// <summary>Every traced thread, in the order they appeared (the first is the launched command's main thread).</summary>
    public List<ThreadExecution> Threads { get; } = [];

    /// <summary>Process events in time order: exec, fork/clone, exit, code mappings.</summary>
    public List<SidebandEvent> Sideband { get; } = [];

    /// <summary>Address spaces by <see cref="AddressSpace.Id"/>: a new one at each exec and each fork.</summary>
    public List<AddressSpace> AddressSpaces { get; } = [];

    /// <summary>Steps the tracer took; with <see cref="ElapsedSeconds"/> gives the steps per second to report.</summary>
    public long TotalSteps { get; set; }
    public double ElapsedSeconds { get; set; }

    /// <summary>The launched command's exit code, or 128+signal when a signal ended it.</summary>
    public int ExitCode { get; set; }

    /// <summary>
    /// True when the run was cut short (cancelled, or the step limit reached): the tracees were killed, and each
    /// thread's log ends where it was stopped (its Exit marker says 137, SIGKILL).
    /// </summary>
    public bool Truncated { get; set; }
}

/// <summary>
/// One thread's executed user-mode instructions, in order. <see cref="Steps"/> holds one entry per executed instruction
/// (its address; user addresses are below 2^47) or a marker (bit 63 set, see <see cref="StepMarker"/>). Consecutive
/// stops at the same address of a <c>rep</c>-prefixed instruction are one instruction, as hardware PT counts them.
/// An instruction that faulted (the stop that reports SIGSEGV and the like) did not execute and is not listed.
/// </summary>
public sealed class ThreadExecution
{
    public required int Pid { get; init; }
    public required int Tid { get; init; }
    /// <summary>The address space the thread starts in; <see cref="StepMarker.Exec"/> markers switch it.</summary>
    public required int AddressSpaceId { get; init; }
    public StepLog Steps { get; } = new();
    /// <summary>
    /// Clock checkpoints: step index i (into <see cref="Steps"/>) happened at <c>Time</c>; between checkpoints each
    /// entry is one tick after the one before. The tracer adds one whenever that rule would give the wrong time.
    /// </summary>
    public List<(int Index, long Time)> Clock { get; } = [];

    /// <summary>The global time of step <paramref name="index"/> (binary search over <see cref="Clock"/>).</summary>
    public long TimeOf(int index)
    {
        int lo = 0, hi = Clock.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Clock[mid].Index <= index) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return Clock.Count == 0 ? index : Clock[0].Time - (Clock[0].Index - index);
        return Clock[found].Time + (index - Clock[found].Index);
    }
}

/// <summary>Markers inside a <see cref="StepLog"/>: bit 63 set, kind in bits 56..62, an argument in bits 0..55.</summary>
public static class StepMarker
{
    public const ulong Flag = 1UL << 63;

    public enum Kind : byte
    {
        /// <summary>The thread's address space changed (execve succeeded); argument: the new AddressSpace id.</summary>
        Exec = 1,
        /// <summary>A signal was delivered before the next entry (which is then the handler); argument: signal number.</summary>
        Signal = 2,
        /// <summary>The thread ended here; argument: exit code, or 128+signal.</summary>
        Exit = 3,
    }

    public static ulong Make(Kind kind, ulong argument) => Flag | ((ulong)kind << 56) | (argument & ((1UL << 56) - 1));
    public static bool IsMarker(ulong entry) => (entry & Flag) != 0;
    public static Kind KindOf(ulong entry) => (Kind)((entry >> 56) & 0x7F);
    public static ulong ArgumentOf(ulong entry) => entry & ((1UL << 56) - 1);
}

/// <summary>A growable array of u64 steps; no per-step allocation, spans over what was written.</summary>
public sealed class StepLog
{
    private ulong[] _items = new ulong[4096];
    public int Count { get; private set; }

    public void Add(ulong entry)
    {
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = entry;
    }

    public ulong this[int index] => (uint)index < (uint)Count ? _items[index] : throw new ArgumentOutOfRangeException(nameof(index));
    public ReadOnlySpan<ulong> AsSpan() => _items.AsSpan(0, Count);
    /// <summary>Removes the last entry (used when a stop shows the previous step did not complete).</summary>
    public void RemoveLast() { if (Count > 0) Count--; }
}

/// <summary>The code of one process image, as captured from the traced process's memory.</summary>
public sealed class AddressSpace
{
    public required int Id { get; init; }
    public required int Pid { get; init; }
    /// <summary>Executable regions captured so far, not overlapping, sorted by start.</summary>
    public List<CodeRegion> Regions { get; } = [];

    /// <summary>The region holding <paramref name="address"/>, or null.</summary>
    public CodeRegion? Find(ulong address)
    {
        int lo = 0, hi = Regions.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = Regions[mid];
            if (address < r.Start) hi = mid - 1;
            else if (address >= r.End) lo = mid + 1;
            else return r;
        }
        return null;
    }

    /// <summary>
    /// Copies code at <paramref name="address"/> into <paramref name="destination"/>, stopping at the end of the region;
    /// returns the bytes copied (0 when no region holds the address).
    /// </summary>
    public int Read(ulong address, Span<byte> destination)
    {
        var r = Find(address);
        if (r is null) return 0;
        var available = r.Bytes.AsSpan((int)(address - r.Start));
        int n = Math.Min(available.Length, destination.Length);
        available[..n].CopyTo(destination);
        return n;
    }
}

/// <summary>One executable mapping's bytes, and where they came from (for MMAP2 and for the image model).</summary>
public sealed class CodeRegion
{
    public required ulong Start { get; init; }
    public required byte[] Bytes { get; init; }
    public ulong End => Start + (ulong)Bytes.Length;
    /// <summary>The file path of the mapping, "[vdso]", or "//anon" for anonymous memory.</summary>
    public required string Path { get; init; }
    /// <summary>File offset of <see cref="Start"/> (0 for anonymous memory).</summary>
    public ulong FileOffset { get; init; }
}

/// <summary>Kinds of <see cref="SidebandEvent"/>.</summary>
public enum SidebandKind
{
    /// <summary>Pid/Tid execed <see cref="SidebandEvent.Path"/>; <see cref="SidebandEvent.Comm"/> is its new comm.</summary>
    Exec,
    /// <summary>ParentPid/ParentTid created Pid/Tid (a fork when Pid differs from ParentPid, else a thread).</summary>
    Fork,
    /// <summary>Pid/Tid exited.</summary>
    Exit,
    /// <summary>An executable mapping became visible in Pid: Address, Length, FileOffset, Path, Prot, Flags, device/inode.</summary>
    Mmap,
}

/// <summary>A process event with its global time (see <see cref="ExecutionRecording"/>).</summary>
public sealed record SidebandEvent
{
    public required SidebandKind Kind { get; init; }
    public required long Time { get; init; }
    public required int Pid { get; init; }
    public required int Tid { get; init; }
    public int ParentPid { get; init; }
    public int ParentTid { get; init; }
    public string Comm { get; init; } = "";
    public string Path { get; init; } = "";
    public ulong Address { get; init; }
    public ulong Length { get; init; }
    public ulong FileOffset { get; init; }
    public uint Prot { get; init; }
    public uint Flags { get; init; }
    public uint Major { get; init; }
    public uint Minor { get; init; }
    public ulong Inode { get; init; }
    public int ExitCode { get; init; }
    /// <summary>Mmap: the captured bytes (the object the address space held while this mapping was current).</summary>
    public CodeRegion? Region { get; init; }
    /// <summary>Exec: the new address space; Mmap: the space the region was added to; -1 for other kinds.</summary>
    public int AddressSpaceId { get; init; } = -1;
}
