namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>
/// Processor errata that change how a trace must be read (libipt's struct pt_errata). Which CPU has which comes from
/// Intel's specification updates; the table is the one libipt applies (pt_cpu_errata), so decoding with the same
/// family/model gives the same flow as ptxed --cpu F/M.
/// </summary>
public readonly record struct PtErrata
{
    /// <summary>BDM70: a PSB+ may carry FUP and MODE.Exec although tracing is about to be enabled by a TIP.PGE.</summary>
    public bool Bdm70 { get; init; }
    /// <summary>BDM64: a TSX abort right after a branch may corrupt that branch's trace.</summary>
    public bool Bdm64 { get; init; }
    public bool Skd007 { get; init; }
    /// <summary>SKD022: VMLAUNCH/VMRESUME may produce a bogus FUP, turning a synchronous disable into an async one.</summary>
    public bool Skd022 { get; init; }
    /// <summary>SKD010: the FUP after an OVF may be missing.</summary>
    public bool Skd010 { get; init; }
    public bool Skl014 { get; init; }
    public bool Apl12 { get; init; }
    public bool Apl11 { get; init; }
    public bool Skl168 { get; init; }
    public bool Skz84 { get; init; }

    /// <summary>The errata of an Intel family/model; false when the CPU is unknown (no errata then, as libipt).</summary>
    public static bool TryForCpu(int family, int model, out PtErrata errata)
    {
        errata = default;
        if (family != 6) return false;
        switch (model)
        {
            case 0x3d or 0x47 or 0x4f or 0x56:
                errata = new PtErrata { Bdm70 = true, Bdm64 = true };
                return true;
            case 0x4e or 0x5e or 0x8e or 0x9e or 0xa5 or 0xa6:
                errata = new PtErrata { Bdm70 = true, Skd007 = true, Skd022 = true, Skd010 = true, Skl014 = true, Skl168 = true };
                return true;
            case 0x55 or 0x6a or 0x6c or 0x8f:
                errata = new PtErrata { Bdm70 = true, Skl014 = true, Skd022 = true, Skz84 = true };
                return true;
            case 0x66 or 0x7d or 0x7e or 0x8c or 0x8d:
                errata = new PtErrata { Bdm70 = true, Skl014 = true, Skd022 = true };
                return true;
            case 0x5c or 0x5f:
                errata = new PtErrata { Apl12 = true, Apl11 = true };
                return true;
            case 0x7a or 0x86:
                errata = new PtErrata { Apl11 = true };
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Parses "none" or "FAMILY/MODEL[/STEPPING]" (decimal, or hex with 0x) as ptxed's --cpu does. Returns false with
    /// a message for malformed text; an unknown CPU parses fine and gets no errata.
    /// </summary>
    public static bool TryParseCpu(string text, out int family, out int model, out string? error)
    {
        family = model = 0;
        error = null;
        if (text == "none") return true;
        string[] parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || !TryNumber(parts[0], out family) || !TryNumber(parts[1], out model)
            || (parts.Length == 3 && !TryNumber(parts[2], out _)))
        {
            error = $"--cpu {text}: expected FAMILY/MODEL[/STEPPING], e.g. 6/94, or none";
            return false;
        }
        return true;
    }

    private static bool TryNumber(string s, out int value)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return int.TryParse(s.AsSpan(2), System.Globalization.NumberStyles.HexNumber, null, out value);
        return int.TryParse(s, out value);
    }
}

/// <summary>What a flow decoder needs to know about the recording besides the bytes.</summary>
public sealed record PtFlowConfig
{
    public PtErrata Errata { get; init; }
    public PtTimingConfig Timing { get; init; } = new();
    /// <summary>Keep the timing calibration across an overflow (ptxed --block:keep-tcal-on-ovf).</summary>
    public bool KeepTcalOnOverflow { get; init; }
    /// <summary>Report interrupt-flag changes as events (ptxed --event:iflags).</summary>
    public bool EnableIflagsEvents { get; init; }

    public static PtFlowConfig ForCpu(int family, int model)
    {
        PtErrata.TryForCpu(family, model, out var errata);
        return new PtFlowConfig { Errata = errata };
    }
}
