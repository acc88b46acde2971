using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DotnetPtrace.Decoders.Abi;

/// <summary>Record types: the kernel's <c>enum perf_event_type</c> (1-21) and perf's user types (64-83).</summary>
public enum PerfRecordType : uint
{
    Mmap = 1,
    Lost = 2,
    Comm = 3,
    Exit = 4,
    Throttle = 5,
    Unthrottle = 6,
    Fork = 7,
    Read = 8,
    Sample = 9,
    Mmap2 = 10,
    Aux = 11,
    ItraceStart = 12,
    LostSamples = 13,
    Switch = 14,
    SwitchCpuWide = 15,
    Namespaces = 16,
    Ksymbol = 17,
    BpfEvent = 18,
    Cgroup = 19,
    TextPoke = 20,
    AuxOutputHwId = 21,

    HeaderAttr = 64,
    HeaderEventType = 65,
    HeaderTracingData = 66,
    HeaderBuildId = 67,
    FinishedRound = 68,
    IdIndex = 69,
    AuxtraceInfo = 70,
    Auxtrace = 71,
    AuxtraceError = 72,
    ThreadMap = 73,
    CpuMap = 74,
    StatConfig = 75,
    Stat = 76,
    StatRound = 77,
    EventUpdate = 78,
    TimeConv = 79,
    HeaderFeature = 80,
    Compressed = 81,
    FinishedInit = 82,
    Compressed2 = 83,
}

/// <summary>Bits of perf_event_header.misc.</summary>
public static class PerfRecordMisc
{
    public const ushort CpuModeMask = 7;
    public const ushort CpuModeUnknown = 0;
    public const ushort Kernel = 1;
    public const ushort User = 2;
    public const ushort Hypervisor = 3;
    public const ushort GuestKernel = 4;
    public const ushort GuestUser = 5;
    public const ushort ProcMapParseTimeout = 1 << 12;
    /// <summary>MMAP_DATA on mmap records, COMM_EXEC on comm, FORK_EXEC on fork, SWITCH_OUT on switch.</summary>
    public const ushort Bit13 = 1 << 13;
    public const ushort CommExec = Bit13;
    public const ushort MmapData = Bit13;
    public const ushort SwitchOut = Bit13;
    /// <summary>EXACT_IP on samples, SWITCH_OUT_PREEMPT on switch, MMAP_BUILD_ID on mmap2.</summary>
    public const ushort Bit14 = 1 << 14;
    public const ushort ExactIp = Bit14;
    public const ushort SwitchOutPreempt = Bit14;
    public const ushort MmapBuildId = Bit14;
    /// <summary>EXT_RESERVED; on HEADER_BUILD_ID records it says the build-id size byte is valid.</summary>
    public const ushort BuildIdSize = 1 << 15;
}

/// <summary><c>struct perf_event_header</c>: 8 bytes in front of every record; size includes the header.</summary>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly record struct PerfEventHeader(PerfRecordType Type, ushort Misc, ushort Size)
{
    public const int ByteSize = 8;

    public static PerfEventHeader Read(ReadOnlySpan<byte> bytes) =>
        new((PerfRecordType)BinaryPrimitives.ReadUInt32LittleEndian(bytes),
            BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]));

    public void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)Type);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[4..], Misc);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[6..], Size);
    }

    public ushort CpuMode => (ushort)(Misc & PerfRecordMisc.CpuModeMask);
}
