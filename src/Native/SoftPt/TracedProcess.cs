using DotnetPtrace.Decoders.SoftPt;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>One traced process (thread group): its current address space, how to read its memory, its live threads.</summary>
internal sealed class TracedProcess(int pid, AddressSpace space, TraceeMemory memory) : IDisposable
{
    public int Pid { get; } = pid;
    public AddressSpace Space { get; set; } = space;
    public TraceeMemory Memory { get; set; } = memory;
    /// <summary>The /proc/PID/maps line each region of <see cref="Space"/> was captured from, in region order.</summary>
    public List<(MapsLine Map, CodeRegion Region)> Captured { get; set; } = [];
    public List<TracedThread> Threads { get; } = [];
    /// <summary>The region the last instruction lookup hit: consecutive instructions are almost always in the same one.</summary>
    public CodeRegion? LastRegion { get; set; }
    /// <summary>Attached: a stop signal (SIGSTOP, SIGTSTP...) not delivered while stepping, to send again at detach; 0: none.</summary>
    public int WithheldStopSignal { get; set; }

    /// <summary>The region holding <paramref name="address"/> (cached), or null when nothing captured holds it.</summary>
    public CodeRegion? RegionOf(ulong address)
    {
        var r = LastRegion;
        if (r is not null && address >= r.Start && address < r.End) return r;
        r = Space.Find(address);
        if (r is not null) LastRegion = r;
        return r;
    }

    /// <summary>True when the captured code at <paramref name="address"/> is <c>syscall</c> (0F 05).</summary>
    public bool IsSyscallAt(ulong address)
    {
        var r = RegionOf(address);
        if (r is null) return false;
        ulong off = address - r.Start;
        return off + 1 < (ulong)r.Bytes.Length && r.Bytes[off] == 0x0F && r.Bytes[off + 1] == 0x05;
    }

    public void Dispose() => Memory.Dispose();
}
