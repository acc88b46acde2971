namespace DotnetPtrace.Cli.PtDump;

/// <summary>Options of <c>dump --pt FILE</c>; names follow libipt's ptdump so outputs can be compared.</summary>
public sealed record PtDumpOptions
{
    /// <summary>--lastip: the decompressed IP after each TIP/FUP.</summary>
    public bool LastIp { get; init; }
    /// <summary>--time: the estimated TSC after each timing packet.</summary>
    public bool Time { get; init; }
    /// <summary>--no-pad: hide PAD packets.</summary>
    public bool NoPad { get; init; }
    /// <summary>--exec-mode: the execution mode after each MODE.Exec.</summary>
    public bool ExecMode { get; init; }
    /// <summary>--raw: the packet bytes.</summary>
    public bool Raw { get; init; }
    /// <summary>--offset-from N: dump from byte N of the file (ptdump's FILE:N); printed offsets stay file offsets.</summary>
    public long OffsetFrom { get; init; }
    /// <summary>--mtc-freq: IA32_RTIT_CTL.MTCFreq of the recording.</summary>
    public int MtcFreq { get; init; }
    /// <summary>--cpuid-0x15.eax / .ebx: the TSC:CTC ratio denominator and numerator.</summary>
    public uint CpuidEax { get; init; }
    public uint CpuidEbx { get; init; }
    /// <summary>--nom-freq: the nominal core:bus ratio.</summary>
    public uint NomFreq { get; init; }
}
