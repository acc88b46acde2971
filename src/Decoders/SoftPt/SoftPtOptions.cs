using DotnetPtrace.Decoders.IntelPt;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>
/// Bit positions of the intel_pt PMU's config terms, as /sys/bus/event_source/devices/intel_pt/format lists them
/// (pt config:0, cyc config:1, mtc config:9, tsc config:10, noretcomp config:11, branch config:13,
/// mtc_period config:14-17, psb_period config:24-27). They mirror the IA32_RTIT_CTL MSR bits.
/// </summary>
public static class IntelPtConfigBits
{
    public const ulong Pt = 1UL << 0;
    public const ulong Cyc = 1UL << 1;
    public const ulong Mtc = 1UL << 9;
    public const ulong Tsc = 1UL << 10;
    public const ulong NoRetComp = 1UL << 11;
    public const ulong Branch = 1UL << 13;
    public const int MtcPeriodShift = 14;
    public const ulong MtcPeriodMask = 0xFUL << MtcPeriodShift;
    public const int PsbPeriodShift = 24;
    public const ulong PsbPeriodMask = 0xFUL << PsbPeriodShift;
}

/// <summary>
/// How software Intel PT is generated: the intel_pt terms a real recording would be configured with, and the
/// deterministic clock that stands in for the CPU's. Defaults are perf's defaults for <c>-e intel_pt//</c>
/// (config 0x300e601: pt, tsc, mtc, mtc_period=3, psb_period=3, branch; return compression on, no cyc).
/// <para>
/// The clock: global time t (the recording's step counter) is TSC <c>TscBase + t * TscPerStep</c>. The crystal
/// clock (CTC) ticks once every <c>CtcRatioNumerator / CtcRatioDenominator</c> TSC ticks (CPUID.15H EBX/EAX; the
/// ratio must be a whole number so every CTC tick falls on a TSC tick), counted from TSC 0. The core runs at the
/// TSC frequency: the core:bus ratio sent in CBR equals <see cref="MaxNonTurboRatio"/>, so one CYC cycle is one
/// TSC tick and decoders that calibrate CYC from CBR (libipt with nom_freq, perf with max_non_turbo_ratio) get it
/// exactly.
/// </para>
/// </summary>
public sealed record SoftPtOptions
{
    /// <summary>Compress RETs into a taken TNT bit when the decoders' call stacks predict them (the inverse of noretcomp).</summary>
    public bool RetCompression { get; init; } = true;
    /// <summary>TSC packets (in PSB+ and when time jumps).</summary>
    public bool Tsc { get; init; } = true;
    /// <summary>MTC packets (and TMA after each TSC).</summary>
    public bool Mtc { get; init; } = true;
    /// <summary>MTC every 2^MtcPeriod crystal clock ticks (0..15).</summary>
    public int MtcPeriod { get; init; } = 3;
    /// <summary>Cycle-accurate mode: CYC packets before timed packets (cycle threshold 0).</summary>
    public bool Cyc { get; init; }
    /// <summary>PSB+ every 2^(PsbPeriod+11) bytes of output (0..15).</summary>
    public int PsbPeriod { get; init; } = 3;
    /// <summary>Branch tracing (TNT, TIP, FUP). Off: PSB+, timing and the TIP.PGE/TIP.PGD of kernel entries only.</summary>
    public bool Branch { get; init; } = true;
    /// <summary>Pack up to 47 branches in TNT-64 packets (as some Atom cores do) instead of TNT-8 only.</summary>
    public bool LongTnt { get; init; }

    /// <summary>TSC of global time 0.</summary>
    public ulong TscBase { get; init; } = 1_000_000_000;
    /// <summary>TSC ticks per global time unit (one traced step).</summary>
    public uint TscPerStep { get; init; } = 10;
    /// <summary>CPUID.15H:EBX, the TSC:CTC ratio numerator.</summary>
    public uint CtcRatioNumerator { get; init; } = 200;
    /// <summary>CPUID.15H:EAX, the TSC:CTC ratio denominator.</summary>
    public uint CtcRatioDenominator { get; init; } = 2;
    /// <summary>The nominal (max non-turbo) core:bus ratio, also sent in CBR.</summary>
    public byte MaxNonTurboRatio { get; init; } = 24;

    /// <summary>TSC ticks per crystal clock tick.</summary>
    public uint TscPerCtc => CtcRatioDenominator == 0 ? 0 : CtcRatioNumerator / CtcRatioDenominator;

    /// <summary>TSC ticks per MTC period.</summary>
    public ulong TscPerMtcPeriod => (ulong)TscPerCtc << MtcPeriod;

    /// <summary>Bytes of output after which the next PSB+ is due.</summary>
    public int PsbPeriodBytes => 1 << (PsbPeriod + 11);

    /// <summary>Null when the options are usable, else a one-line reason.</summary>
    public string? Validate()
    {
        if (MtcPeriod is < 0 or > 15) return $"mtc_period {MtcPeriod} is outside 0..15";
        if (PsbPeriod is < 0 or > 15) return $"psb_period {PsbPeriod} is outside 0..15";
        if (TscPerStep == 0) return "TSC ticks per step must be at least 1";
        if (CtcRatioDenominator == 0 || CtcRatioNumerator == 0) return "the TSC:CTC ratio needs a non-zero numerator and denominator";
        if (CtcRatioNumerator % CtcRatioDenominator != 0)
            return $"the TSC:CTC ratio {CtcRatioNumerator}/{CtcRatioDenominator} is not a whole number of TSC ticks";
        // TMA's fast counter field (the TSC ticks since the last CTC tick) has 9 bits.
        if (TscPerCtc > 512) return $"{TscPerCtc} TSC ticks per crystal tick do not fit TMA's 9-bit fast counter";
        if (MaxNonTurboRatio == 0) return "the max non-turbo ratio must be non-zero (it is the CBR value)";
        return null;
    }

    /// <summary>The perf_event_attr.config of an intel_pt event recorded with these options.</summary>
    public ulong Config =>
        IntelPtConfigBits.Pt
        | (Cyc ? IntelPtConfigBits.Cyc : 0)
        | (Mtc ? IntelPtConfigBits.Mtc : 0)
        | (Tsc ? IntelPtConfigBits.Tsc : 0)
        | (RetCompression ? 0 : IntelPtConfigBits.NoRetComp)
        | (Branch ? IntelPtConfigBits.Branch : 0)
        | ((ulong)MtcPeriod << IntelPtConfigBits.MtcPeriodShift)
        | ((ulong)PsbPeriod << IntelPtConfigBits.PsbPeriodShift);

    /// <summary>Options with the terms of an intel_pt config value (clock settings are kept from <paramref name="clock"/>).</summary>
    public static SoftPtOptions FromConfig(ulong config, SoftPtOptions? clock = null) => (clock ?? new SoftPtOptions()) with
    {
        Cyc = (config & IntelPtConfigBits.Cyc) != 0,
        Mtc = (config & IntelPtConfigBits.Mtc) != 0,
        Tsc = (config & IntelPtConfigBits.Tsc) != 0,
        RetCompression = (config & IntelPtConfigBits.NoRetComp) == 0,
        Branch = (config & IntelPtConfigBits.Branch) != 0,
        MtcPeriod = (int)((config & IntelPtConfigBits.MtcPeriodMask) >> IntelPtConfigBits.MtcPeriodShift),
        PsbPeriod = (int)((config & IntelPtConfigBits.PsbPeriodMask) >> IntelPtConfigBits.PsbPeriodShift),
    };

    /// <summary>The TSC of a global time (see <see cref="ExecutionRecording"/>).</summary>
    public ulong TscOf(long time) => TscBase + (ulong)time * TscPerStep;

    /// <summary>
    /// The AUXTRACE_INFO fields these options decide: the config bit masks perf reads (tsc, noretcomp, mtc, mtc
    /// period, cyc, as the PMU format defines them), the TSC:CTC ratio and the max non-turbo ratio. The caller's
    /// record supplies the rest (PMU type, time conversion, per-cpu mode, ...).
    /// </summary>
    public IntelPtAuxtraceInfo ApplyTo(IntelPtAuxtraceInfo info) => info with
    {
        TscBit = IntelPtConfigBits.Tsc,
        NoRetCompBit = IntelPtConfigBits.NoRetComp,
        MtcBit = IntelPtConfigBits.Mtc,
        MtcFreqBits = IntelPtConfigBits.MtcPeriodMask,
        CycBit = IntelPtConfigBits.Cyc,
        TscCtcNumerator = CtcRatioNumerator,
        TscCtcDenominator = CtcRatioDenominator,
        MaxNonTurboRatio = MaxNonTurboRatio,
    };

    /// <summary>The timing configuration a decoder of these streams needs (our PtTimeTracker, ptdump's options).</summary>
    public PtTimingConfig TimingConfig => new()
    {
        MtcFreq = MtcPeriod,
        CtcRatioNumerator = CtcRatioNumerator,
        CtcRatioDenominator = CtcRatioDenominator,
        NominalFrequency = MaxNonTurboRatio,
    };
}
