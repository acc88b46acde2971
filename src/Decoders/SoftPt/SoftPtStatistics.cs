using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>What encoding one thread produced, for the closing note and for the perf.data composer.</summary>
public sealed class SoftPtStatistics
{
    private static readonly int KindCount = Enum.GetValues<PtPacketKind>().Max(k => (int)k) + 1;
    private readonly long[] _packets = new long[KindCount];

    public int Tid { get; internal set; }
    /// <summary>Bytes of PT written.</summary>
    public long Bytes { get; internal set; }
    /// <summary>Instructions encoded (the decoders list exactly these).</summary>
    public long Instructions { get; internal set; }
    /// <summary>Conditional branches (one TNT bit each).</summary>
    public long ConditionalBranches { get; internal set; }
    /// <summary>Near returns sent as a taken TNT bit.</summary>
    public long CompressedReturns { get; internal set; }
    /// <summary>Near returns sent as a TIP.</summary>
    public long UncompressedReturns { get; internal set; }
    /// <summary>Indirect jumps and calls and far transfers (TIP each).</summary>
    public long IndirectBranches { get; internal set; }
    /// <summary>SYSCALL/INT n and the like: TIP.PGD at the instruction, TIP.PGE at the return to user mode.</summary>
    public long KernelEntries { get; internal set; }
    /// <summary>Asynchronous exits from user mode (signals, faults, the end of the thread): FUP + TIP.PGD.</summary>
    public long AsynchronousExits { get; internal set; }
    /// <summary>Steps whose code was not captured (or does not decode): left out of the trace between TIP.PGD and TIP.PGE.</summary>
    public long UndecodableSteps { get; internal set; }
    /// <summary>Distinct instruction addresses classified with Iced (cumulative for the encoder instance).</summary>
    public long DistinctInstructions { get; internal set; }
    /// <summary>TSC of the first and last instruction (0 when there were none).</summary>
    public ulong FirstTsc { get; internal set; }
    public ulong LastTsc { get; internal set; }

    /// <summary>All branches the trace describes (conditional, returns, indirect and far).</summary>
    public long Branches => ConditionalBranches + CompressedReturns + UncompressedReturns + IndirectBranches;

    public long PacketCount(PtPacketKind kind) => (uint)kind < (uint)_packets.Length ? _packets[(int)kind] : 0;

    public long TotalPackets => _packets.Sum();

    /// <summary>Packet counts by kind, non-zero ones only.</summary>
    public IEnumerable<(PtPacketKind Kind, long Count)> Packets()
    {
        for (int i = 0; i < _packets.Length; i++)
            if (_packets[i] != 0) yield return ((PtPacketKind)i, _packets[i]);
    }

    /// <summary>PT bytes per million instructions.</summary>
    public double BytesPerMillionInstructions => Instructions == 0 ? 0 : Bytes * 1e6 / Instructions;

    internal void CountPacket(PtPacketKind kind) => _packets[(int)kind]++;

    public override string ToString() =>
        $"tid {Tid}: {Instructions} instructions, {Bytes} bytes ({BytesPerMillionInstructions:F0} per million instructions), " +
        $"{TotalPackets} packets [{string.Join(", ", Packets().Select(p => $"{p.Kind} {p.Count}"))}], {Branches} branches";
}
