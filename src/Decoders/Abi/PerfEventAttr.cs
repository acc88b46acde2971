using System.Runtime.InteropServices;

namespace DotnetPtrace.Decoders.Abi;

/// <summary>
/// <c>struct perf_event_attr</c> exactly as the kernel lays it out (include/uapi/linux/perf_event.h), up to
/// PERF_ATTR_SIZE_VER8 (136 bytes, <c>config3</c>). It lives in Decoders because perf.data stores it verbatim;
/// Native passes the same struct to <c>perf_event_open</c>. C unions appear as two properties over one field.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = SizeVer8)]
public struct PerfEventAttr
{
    public const int SizeVer0 = 64;   // first published
    public const int SizeVer1 = 72;   // config2
    public const int SizeVer2 = 80;   // branch_sample_type
    public const int SizeVer3 = 96;   // sample_regs_user, sample_stack_user
    public const int SizeVer4 = 104;  // sample_regs_intr
    public const int SizeVer5 = 112;  // aux_watermark
    public const int SizeVer6 = 120;  // aux_sample_size
    public const int SizeVer7 = 128;  // sig_data
    public const int SizeVer8 = 136;  // config3

    /// <summary>Every published size, newest first: the order in which the size protocol retries.</summary>
    public static ReadOnlySpan<int> KnownSizes => [SizeVer8, SizeVer7, SizeVer6, SizeVer5, SizeVer4, SizeVer3, SizeVer2, SizeVer1, SizeVer0];

    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Size;
    [FieldOffset(8)] public ulong Config;
    [FieldOffset(16)] private ulong _samplePeriodOrFreq;
    [FieldOffset(24)] public SampleType SampleType;
    [FieldOffset(32)] public ReadFormat ReadFormat;
    [FieldOffset(40)] public AttrFlags Flags;
    [FieldOffset(48)] private uint _wakeupEventsOrWatermark;
    [FieldOffset(52)] public uint BpType;
    [FieldOffset(56)] private ulong _config1OrBpAddr;
    [FieldOffset(64)] private ulong _config2OrBpLen;
    [FieldOffset(72)] public ulong BranchSampleType;
    [FieldOffset(80)] public ulong SampleRegsUser;
    [FieldOffset(88)] public uint SampleStackUser;
    [FieldOffset(92)] public int ClockId;
    [FieldOffset(96)] public ulong SampleRegsIntr;
    [FieldOffset(104)] public uint AuxWatermark;
    [FieldOffset(108)] public ushort SampleMaxStack;
    [FieldOffset(110)] public ushort Reserved2;
    [FieldOffset(112)] public uint AuxSampleSize;
    /// <summary>(&gt;6.1) aux_start_paused bit 0, aux_pause bit 1, aux_resume bit 2; <c>__reserved_3</c> before.</summary>
    [FieldOffset(116)] public uint AuxAction;
    [FieldOffset(120)] public ulong SigData;
    [FieldOffset(128)] public ulong Config3;

    public ulong SamplePeriod { readonly get => _samplePeriodOrFreq; set => _samplePeriodOrFreq = value; }
    /// <summary>Meaningful when <see cref="AttrFlags.Freq"/> is set.</summary>
    public ulong SampleFreq { readonly get => _samplePeriodOrFreq; set => _samplePeriodOrFreq = value; }
    public uint WakeupEvents { readonly get => _wakeupEventsOrWatermark; set => _wakeupEventsOrWatermark = value; }
    /// <summary>Meaningful when <see cref="AttrFlags.Watermark"/> is set: bytes before a wakeup.</summary>
    public uint WakeupWatermark { readonly get => _wakeupEventsOrWatermark; set => _wakeupEventsOrWatermark = value; }
    public ulong Config1 { readonly get => _config1OrBpAddr; set => _config1OrBpAddr = value; }
    public ulong BpAddr { readonly get => _config1OrBpAddr; set => _config1OrBpAddr = value; }
    public ulong Config2 { readonly get => _config2OrBpLen; set => _config2OrBpLen = value; }
    public ulong BpLen { readonly get => _config2OrBpLen; set => _config2OrBpLen = value; }

    /// <summary>precise_ip is the two-bit field at flag bits 15-16.</summary>
    public int PreciseIp
    {
        readonly get => (int)(((ulong)Flags >> 15) & 3);
        set => Flags = (AttrFlags)(((ulong)Flags & ~(3UL << 15)) | ((ulong)(value & 3) << 15));
    }

    public readonly bool Has(AttrFlags flag) => (Flags & flag) == flag;
}

/// <summary>The u64 bitfield at offset 40 of perf_event_attr, bit by bit as in the uapi header.</summary>
[Flags]
public enum AttrFlags : ulong
{
    None = 0,
    Disabled = 1UL << 0,
    Inherit = 1UL << 1,
    Pinned = 1UL << 2,
    Exclusive = 1UL << 3,
    ExcludeUser = 1UL << 4,
    ExcludeKernel = 1UL << 5,
    ExcludeHv = 1UL << 6,
    ExcludeIdle = 1UL << 7,
    Mmap = 1UL << 8,
    Comm = 1UL << 9,
    Freq = 1UL << 10,
    InheritStat = 1UL << 11,
    EnableOnExec = 1UL << 12,
    Task = 1UL << 13,
    Watermark = 1UL << 14,
    PreciseIpLow = 1UL << 15,
    PreciseIpHigh = 1UL << 16,
    MmapData = 1UL << 17,
    SampleIdAll = 1UL << 18,
    ExcludeHost = 1UL << 19,
    ExcludeGuest = 1UL << 20,
    ExcludeCallchainKernel = 1UL << 21,
    ExcludeCallchainUser = 1UL << 22,
    Mmap2 = 1UL << 23,
    CommExec = 1UL << 24,
    UseClockId = 1UL << 25,
    ContextSwitch = 1UL << 26,
    WriteBackward = 1UL << 27,
    Namespaces = 1UL << 28,
    Ksymbol = 1UL << 29,
    BpfEvent = 1UL << 30,
    AuxOutput = 1UL << 31,
    Cgroup = 1UL << 32,
    TextPoke = 1UL << 33,
    BuildId = 1UL << 34,
    InheritThread = 1UL << 35,
    RemoveOnExec = 1UL << 36,
    SigTrap = 1UL << 37,
}

[Flags]
public enum SampleType : ulong
{
    None = 0,
    Ip = 1UL << 0,
    Tid = 1UL << 1,
    Time = 1UL << 2,
    Addr = 1UL << 3,
    Read = 1UL << 4,
    Callchain = 1UL << 5,
    Id = 1UL << 6,
    Cpu = 1UL << 7,
    Period = 1UL << 8,
    StreamId = 1UL << 9,
    Raw = 1UL << 10,
    BranchStack = 1UL << 11,
    RegsUser = 1UL << 12,
    StackUser = 1UL << 13,
    Weight = 1UL << 14,
    DataSrc = 1UL << 15,
    Identifier = 1UL << 16,
    Transaction = 1UL << 17,
    RegsIntr = 1UL << 18,
    PhysAddr = 1UL << 19,
    Aux = 1UL << 20,
    Cgroup = 1UL << 21,
    DataPageSize = 1UL << 22,
    CodePageSize = 1UL << 23,
    WeightStruct = 1UL << 24,
}

[Flags]
public enum ReadFormat : ulong
{
    None = 0,
    TotalTimeEnabled = 1,
    TotalTimeRunning = 2,
    Id = 4,
    Group = 8,
    Lost = 16,
}

/// <summary>perf_event_attr.type values built into the kernel (dynamic PMUs get theirs from sysfs).</summary>
public enum PerfType : uint
{
    Hardware = 0,
    Software = 1,
    Tracepoint = 2,
    HwCache = 3,
    Raw = 4,
    Breakpoint = 5,
}

/// <summary>config values for <see cref="PerfType.Software"/>.</summary>
public enum SoftwareEvent : ulong
{
    CpuClock = 0,
    TaskClock = 1,
    PageFaults = 2,
    ContextSwitches = 3,
    CpuMigrations = 4,
    PageFaultsMin = 5,
    PageFaultsMaj = 6,
    AlignmentFaults = 7,
    EmulationFaults = 8,
    Dummy = 9,
    BpfOutput = 10,
    CgroupSwitches = 11,
}

/// <summary>config values for <see cref="PerfType.Hardware"/>.</summary>
public enum HardwareEvent : ulong
{
    CpuCycles = 0,
    Instructions = 1,
    CacheReferences = 2,
    CacheMisses = 3,
    BranchInstructions = 4,
    BranchMisses = 5,
    BusCycles = 6,
    StalledCyclesFrontend = 7,
    StalledCyclesBackend = 8,
    RefCpuCycles = 9,
}
