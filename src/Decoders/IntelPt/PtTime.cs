namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>
/// The timing configuration a PT stream was recorded with. perf.data carries it in AUXTRACE_INFO (MTC frequency bits,
/// TSC:CTC ratio, max non-turbo ratio); for raw files it comes from options (ptdump's --mtc-freq, --cpuid-0x15.eax/ebx,
/// --nom-freq).
/// </summary>
public sealed record PtTimingConfig
{
    /// <summary>IA32_RTIT_CTL.MTCFreq: an MTC is sent every 2^MtcFreq crystal clock (CTC) ticks; its payload is CTC[MtcFreq+7:MtcFreq].</summary>
    public int MtcFreq { get; init; }
    /// <summary>CPUID.15H:EAX, the denominator of the TSC:CTC ratio (0 = unknown).</summary>
    public uint CtcRatioDenominator { get; init; }
    /// <summary>CPUID.15H:EBX, the numerator of the TSC:CTC ratio (0 = unknown).</summary>
    public uint CtcRatioNumerator { get; init; }
    /// <summary>MSR_PLATFORM_INFO[15:8], the nominal core:bus ratio; with CBR it calibrates CYC (0 = unknown).</summary>
    public uint NominalFrequency { get; init; }
}

/// <summary>
/// Packet-level time, kept the way libipt's pt_time/pt_time_cal are and ptdump --time uses them: TSC sets the time;
/// TMA ties the crystal clock (CTC) to it; each MTC advances it by the CTC ticks since the last one, times the
/// TSC:CTC ratio; CYC adds core cycles times a calibrated fast-counter ratio (from CBR and the nominal frequency, or
/// measured between MTCs or TSCs). Errors come back as libipt's message text: ptdump prints them and carries on.
/// </summary>
public struct PtTimeTracker
{
    // libipt's fixed-point shift for the fast-counter ratio.
    private const int FcrShift = 8;
    private const int MtcBits = 8;
    private const int TmaCtcBits = 16;

    private readonly PtTimingConfig _config;

    // pt_time
    private ulong _tsc, _base, _fc;
    private uint _ctc, _ctcCyc;
    private bool _haveTsc, _haveTma, _haveMtc;
    private uint _lostCyc, _lostMtc;
    private byte _cbr;

    // pt_time_cal
    private ulong _fcr, _minFcr, _maxFcr;
    private ulong _calTsc, _cycTsc, _cycMtc;
    private uint _calCtc;
    private bool _calHaveMtc;

    private bool _inHeader;

    public PtTimeTracker(PtTimingConfig config)
    {
        this = default;
        _config = config;
        ResetCalibration();
    }

    /// <summary>The current estimate; false before the first TSC.</summary>
    public readonly bool TryGetTsc(out ulong tsc)
    {
        tsc = _tsc;
        return _haveTsc;
    }

    public readonly int CoreBusRatio => _cbr;
    public readonly uint LostMtc => _lostMtc;
    public readonly uint LostCyc => _lostCyc;

    private void ResetCalibration()
    {
        _fcr = _maxFcr = _calTsc = _cycTsc = _cycMtc = 0;
        _calCtc = 0;
        _calHaveMtc = false;
        _minFcr = ulong.MaxValue;
    }

    private readonly bool HaveFcr => _minFcr <= _maxFcr;

    private void SetFcr(ulong fcr)
    {
        _fcr = fcr;
        _minFcr = Math.Min(_minFcr, fcr);
        _maxFcr = Math.Max(_maxFcr, fcr);
    }

    public void OnPsb() => _inHeader = true;
    public void OnPsbEnd() => _inHeader = false;

    /// <summary>An overflow loses the calibration (ptdump without --keep-tcal-on-ovf).</summary>
    public void OnOvf() => ResetCalibration();

    public string? OnTsc(ulong tsc)
    {
        string? error = _inHeader ? CalHeaderTsc(tsc) : CalUpdateTsc(tsc);
        _haveTsc = true;
        _haveTma = _haveMtc = false;
        _tsc = _base = tsc;
        _ctc = 0;
        _fc = 0;
        _lostMtc = _lostCyc = 0;
        return error;
    }

    private string? CalUpdateTsc(ulong tsc)
    {
        // A TSC outside PSB+ may follow lost time: remember it, but do not calibrate from it.
        _calTsc = tsc;
        _cycTsc = 0;
        return null;
    }

    private string? CalHeaderTsc(ulong tsc)
    {
        ulong last = _calTsc, cyc = _cycTsc;
        _calTsc = tsc;
        _cycTsc = 0;
        if (last == 0 || cyc == 0 || _calHaveMtc) return null; // MTC calibrates better than TSC
        if (tsc < last)
        {
            tsc += 1UL << 56;
            if (tsc < last) return "unknown packet";
        }
        ulong delta = tsc - last;
        if ((delta & ~(ulong.MaxValue >> FcrShift)) != 0) return "internal error";
        SetFcr((delta << FcrShift) / cyc);
        return null;
    }

    /// <summary>A CBR: a new core frequency. Outside PSB+ it also restarts calibration.</summary>
    public string? OnCbr(byte ratio)
    {
        string? error = null;
        if (!_inHeader) ResetCalibration();
        if (_config.NominalFrequency != 0)
        {
            if (ratio == 0) error = "unknown packet";
            else SetFcr(((ulong)_config.NominalFrequency << FcrShift) / ratio);
        }
        if (ratio == 0) return error ?? "unknown packet";
        _cbr = ratio;
        return error;
    }

    public string? OnTma(ushort ctc, ushort fc)
    {
        if (!_haveTsc || _haveTma) return "unexpected packet context";
        if (_haveMtc) return "internal error";
        int mtcHi = _config.MtcFreq + MtcBits;
        uint ctcMask = (uint)((1UL << mtcHi) - 1);
        _haveTma = true;
        _base -= fc;
        _fc += fc;
        // With a low enough MTC frequency the TMA carries every CTC bit an MTC would: it counts as the first MTC.
        if (mtcHi <= TmaCtcBits) _haveMtc = true;
        _ctc = _ctcCyc = ctc & ctcMask;
        return null;
    }

    public string? OnMtc(byte payload)
    {
        string? error = CalMtc(payload);
        string? timeError = TimeMtc(payload);
        return error ?? timeError;
    }

    private string? TimeMtc(byte payload)
    {
        bool haveTsc = _haveTsc, haveTma = _haveTma, haveMtc = _haveMtc;
        // MTCs between a TSC and its TMA would look like CTC overflows: ignore them.
        if (haveTsc && !haveTma) return null;
        ulong baseTsc = _base;
        uint lastCtc = _ctc;
        uint ctc = (uint)payload << _config.MtcFreq;
        if (_fc != 0 || _lostCyc != 0 || !haveMtc) _ctcCyc = ctc;
        _haveMtc = true;
        _fc = 0;
        _ctc = ctc;
        _lostCyc = 0;
        if (!haveMtc)
        {
            if (!haveTma) return null; // no idea where in this MTC period tracing started
            if ((lastCtc & ~0xffffu) != 0) return "internal error";
            // Estimate the CTC bits above the TMA's 16 from this MTC, assuming no MTC was lost around the TMA.
            uint lo = ctc & 0xffff, hi = ctc & ~0xffffu;
            if (lo < lastCtc)
            {
                hi -= 1u << TmaCtcBits;
                hi &= 0xffu << _config.MtcFreq;
            }
            lastCtc |= hi;
        }
        string? error = CtcDelta(ctc, lastCtc, out uint delta);
        if (error != null)
        {
            _lostMtc++;
            return error;
        }
        error = CtcToFc(delta, out ulong ticks);
        if (error != null) return error;
        _tsc = _base = baseTsc + ticks;
        return null;
    }

    private string? CalMtc(byte payload)
    {
        uint lastCtc = _calCtc;
        ulong cyc = _cycMtc;
        uint ctc = (uint)payload << _config.MtcFreq;
        if (!_calHaveMtc)
        {
            _cycMtc = 0;
            _calCtc = ctc;
            _calHaveMtc = true;
            return null;
        }
        if (cyc == 0) return null; // no cycles to calibrate with yet: spread them over a longer period
        _cycMtc = 0;
        _calCtc = ctc;
        string? error = CtcDelta(ctc, lastCtc, out uint delta) ?? CtcToFc(delta, out ulong fc);
        if (error != null) return error;
        CtcToFc(delta, out fc);
        if ((fc & ~(ulong.MaxValue >> FcrShift)) != 0) return "internal error";
        SetFcr((fc << FcrShift) / cyc);
        return null;
    }

    public string? OnCyc(ulong cycles)
    {
        ulong fcr = HaveFcr ? _fcr : 0;
        _cycMtc += cycles;
        _cycTsc += cycles;
        if (fcr == 0)
        {
            _lostCyc++;
            return "no calibration";
        }
        ulong cyc = cycles;
        if (_fc == 0)
        {
            string? error = AdjustCyc(ref cyc, fcr);
            if (error != null) return error;
        }
        _fc += (cyc * fcr) >> FcrShift;
        _tsc = _base + _fc;
        return null;
    }

    // A CYC that spans MTC periods: keep only the part for the current period (libipt's estimate).
    private readonly string? AdjustCyc(ref ulong cyc, ulong fcr)
    {
        if (_ctc == _ctcCyc) return null;
        string? error = CtcDelta(_ctc, _ctcCyc, out uint delta) ?? CtcToFc(delta, out _);
        if (error != null) return error;
        CtcToFc(delta, out ulong fc);
        ulong old = (fc << FcrShift) / fcr;
        cyc = cyc < old ? 0 : cyc - old;
        return null;
    }

    private readonly string? CtcDelta(uint ctc, uint lastCtc, out uint delta)
    {
        delta = 0;
        if (ctc < lastCtc)
        {
            ctc += 1u << (_config.MtcFreq + MtcBits); // one wrap of the MTC's CTC bits
            if (ctc < lastCtc) return "unknown packet";
        }
        delta = ctc - lastCtc;
        return null;
    }

    private readonly string? CtcToFc(ulong ctc, out ulong fc)
    {
        fc = 0;
        if (_config.CtcRatioDenominator == 0 || _config.CtcRatioNumerator == 0) return "bad configuration";
        fc = ctc * _config.CtcRatioNumerator / _config.CtcRatioDenominator;
        return null;
    }
}
