using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>
/// The packet layer of the software PT encoder: TNT accumulation, PSB+, and the timing packets (TSC, TMA, MTC, CYC)
/// that the deterministic clock calls for, in the order both decoders read time exactly.
/// <list type="bullet">
/// <item>Pending TNT bits are flushed before every other packet, timing packets included (a partial TNT may be sent
/// at any time, SDM "TNT"; real Skylake traces show partial TNTs before MTCs), so no TNT packet spans a change of
/// time and every branch outcome is read with the time it happened at.</item>
/// <item>MTC: when the crystal clock crosses an MTC period boundary, at the next instruction boundary; its time is
/// the boundary. A jump in time of a whole MTC period or more (the thread was not running, or was in the kernel)
/// sends TSC (and TMA) instead, as hardware does when it resumes, so no run of MTCs stands for idle time.</item>
/// <item>CYC (cycle threshold 0): before each timed packet, the cycles since the previous CYC; a TNT packet is
/// stamped with the time of its first branch, so a decoder's time never runs ahead of the instruction. A CYC
/// immediately precedes each MTC, TSC and PSB with the cycles up to that point, which is where perf re-bases its
/// cycle count and libipt expects it.</item>
/// </list>
/// </summary>
internal sealed class TimedPacketWriter
{
    private readonly SoftPtOptions _options;
    private readonly PtPacketOutput _out = new();
    private readonly int _tntCapacity;
    private SoftPtStatistics _stats = null!;

    private int _tntCount;
    private ulong _tntBits;
    private ulong _tntTsc;

    private bool _clockStarted;
    private ulong _now;
    private ulong _mtcIndex;
    private ulong _cycRef;
    private long _lastPsbOffset;

    public TimedPacketWriter(SoftPtOptions options)
    {
        _options = options;
        _tntCapacity = options.LongTnt ? 47 : 6;
    }

    public PtPacketOutput Output => _out;

    public void Begin(System.Buffers.IBufferWriter<byte>? writer, Stream? stream, SoftPtStatistics stats)
    {
        _stats = stats;
        _out.Begin(writer, stream, stats);
        _tntCount = 0;
        _tntBits = 0;
        _clockStarted = false;
        _lastPsbOffset = 0;
    }

    public void End()
    {
        FlushTnt();
        _out.End();
    }

    /// <summary>The next PSB+ is due (checked at instruction boundaries while tracing is enabled).</summary>
    public bool PsbDue => _out.Offset - _lastPsbOffset >= _options.PsbPeriodBytes;

    // ---- TNT

    public void AddTnt(bool taken, ulong tsc)
    {
        if (_tntCount == 0) _tntTsc = tsc;
        _tntBits = (_tntBits << 1) | (taken ? 1UL : 0UL);
        if (++_tntCount == _tntCapacity) FlushTnt();
    }

    public void FlushTnt()
    {
        if (_tntCount == 0) return;
        int count = _tntCount;
        _tntCount = 0;
        Stamp(_tntTsc);
        _out.Write(PtPacket.CreateTnt(count, _tntBits));
        _tntBits = 0;
    }

    // ---- packets tied to an instruction: flush TNT, stamp the time, write

    public void Tip(PtPacketKind kind, ulong ip, ulong tsc)
    {
        FlushTnt();
        Stamp(tsc);
        _out.WriteIp(kind, ip);
    }

    /// <summary>TIP.PGD with the IP suppressed: the target is in the kernel, which user-only tracing must not expose.</summary>
    public void DisableSuppressed(ulong tsc)
    {
        FlushTnt();
        Stamp(tsc);
        _out.WriteSuppressed(PtPacketKind.TipPgd);
    }

    /// <summary>FUP (the IP that did not execute) + TIP.PGD: an asynchronous exit to the kernel.</summary>
    public void AsyncDisable(ulong ip, ulong tsc, bool withFup)
    {
        FlushTnt();
        Stamp(tsc);
        if (withFup) _out.WriteIp(PtPacketKind.Fup, ip);
        _out.WriteSuppressed(PtPacketKind.TipPgd);
    }

    /// <summary>MODE.Exec + TIP.PGE: tracing resumes at <paramref name="ip"/> (64-bit code).</summary>
    public void Enable(ulong ip, ulong tsc)
    {
        FlushTnt();
        Stamp(tsc);
        _out.Write(PtPacket.CreateModeExec(PtPacket.ExecCsL));
        _out.WriteIp(PtPacketKind.TipPge, ip);
    }

    /// <summary>
    /// PSB+ at the boundary before the instruction at <paramref name="ip"/> (or with tracing disabled, no IP):
    /// PSB, TSC, TMA, CBR, MODE.Exec, FUP, PSBEND. Resets the last IP, as it does in the processor and the decoders.
    /// </summary>
    public void PsbPlus(ulong ip, bool enabled, ulong tsc)
    {
        FlushTnt();
        Stamp(tsc);
        _lastPsbOffset = _out.Offset;
        _out.Write(PtPacket.Create(PtPacketKind.Psb));
        _out.ResetLastIp();
        if (_options.Tsc) WriteTscTma(tsc);
        _out.Write(PtPacket.CreateCbr(_options.MaxNonTurboRatio));
        if (enabled)
        {
            _out.Write(PtPacket.CreateModeExec(PtPacket.ExecCsL));
            _out.WriteIp(PtPacketKind.Fup, ip);
        }
        _out.Write(PtPacket.Create(PtPacketKind.PsbEnd));
    }

    // ---- the clock

    /// <summary>Starts the clock at the first instruction's time (call before its PSB+).</summary>
    public void StartClock(ulong tsc)
    {
        _clockStarted = true;
        _now = tsc;
        _cycRef = tsc;
        _mtcIndex = MtcIndexOf(tsc);
    }

    /// <summary>
    /// Moves the clock to the boundary before an instruction at <paramref name="tsc"/>, sending the MTCs (or the TSC
    /// resync) the time that passed calls for.
    /// </summary>
    public void AdvanceTo(ulong tsc)
    {
        if (!_clockStarted) { StartClock(tsc); return; }
        if (tsc < _now) throw new InvalidDataException($"time goes backwards (TSC 0x{_now:x} then 0x{tsc:x})");
        ulong elapsed = tsc - _now;
        _now = tsc;
        if (_options.Tsc && elapsed >= _options.TscPerMtcPeriod && elapsed > _options.TscPerStep)
        {
            FlushTnt();
            Stamp(tsc);
            WriteTscTma(tsc);
            return;
        }
        if (!_options.Mtc) return;
        ulong index = MtcIndexOf(tsc);
        while (_mtcIndex < index)
        {
            _mtcIndex++;
            FlushTnt();
            Stamp((_mtcIndex << _options.MtcPeriod) * _options.TscPerCtc);
            // MTC carries CTC[MtcPeriod+7:MtcPeriod]: the low 8 bits of the period index.
            _out.Write(PtPacket.CreateMtc((byte)_mtcIndex));
        }
    }

    private ulong MtcIndexOf(ulong tsc) => tsc / _options.TscPerCtc >> _options.MtcPeriod;

    private void WriteTscTma(ulong tsc)
    {
        _out.Write(PtPacket.CreateTsc(tsc));
        _mtcIndex = MtcIndexOf(tsc);
        if (!_options.Mtc) return;
        // TMA: the crystal clock's low 16 bits at this TSC, and the TSC ticks since that crystal tick.
        ulong ctc = tsc / _options.TscPerCtc;
        _out.Write(PtPacket.CreateTma((ushort)ctc, (ushort)(tsc - ctc * _options.TscPerCtc)));
    }

    /// <summary>With CYC on: the cycles (= TSC ticks) since the last CYC, when there are any.</summary>
    private void Stamp(ulong tsc)
    {
        if (!_options.Cyc || tsc <= _cycRef) return;
        _out.Write(PtPacket.CreateCyc(tsc - _cycRef));
        _cycRef = tsc;
    }
}
