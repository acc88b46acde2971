using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>Packet-level timing (ptdump --time): TSC, TMA, MTC, CYC with CBR.</summary>
public class PtTimeTests(ITestOutputHelper log)
{
    // The Skylake recording's AUXTRACE_INFO: MTC period 3, TSC:CTC 100/2, max non-turbo ratio 12.
    private static readonly PtTimingConfig Skylake = new() { MtcFreq = 3, CtcRatioDenominator = 2, CtcRatioNumerator = 100, NominalFrequency = 12 };

    [Fact]
    public void Mtc_and_cyc_advance_the_time_by_the_configured_ratios()
    {
        var t = new PtTimeTracker(Skylake);
        Assert.False(t.TryGetTsc(out _));
        t.OnPsb();
        Assert.Null(t.OnTsc(1_000_000));
        // TMA: CTC 0x1234 at the TSC, which came 0x20 fast-counter ticks after that CTC tick.
        Assert.Null(t.OnTma(0x1234, 0x20));
        Assert.Null(t.OnCbr(24)); // the core runs at twice the nominal ratio: one cycle is half a TSC tick
        t.OnPsbEnd();
        Assert.True(t.TryGetTsc(out ulong tsc));
        Assert.Equal(1_000_000UL, tsc);

        // An MTC carries CTC[10:3]. 0x1234 & 0x7ff = 0x234; the next MTC, 0x47, is CTC 0x238: 4 CTC ticks,
        // 200 TSC ticks after the CTC tick the TMA measured from.
        Assert.Null(t.OnMtc(0x47));
        Assert.True(t.TryGetTsc(out tsc));
        Assert.Equal(1_000_000UL - 0x20 + 4 * 50, tsc);

        // 100 cycles at CBR 24 with nominal 12 are 50 TSC ticks.
        Assert.Null(t.OnCyc(100));
        Assert.True(t.TryGetTsc(out ulong afterCyc));
        Assert.Equal(tsc + 50, afterCyc);

        // The next MTC restarts from the MTC base: 8 CTC ticks later, 400 TSC ticks; CYC time is not added twice.
        Assert.Null(t.OnMtc(0x48));
        Assert.True(t.TryGetTsc(out ulong next));
        Assert.Equal(tsc + 400, next);

        // The 8 MTC bits wrap: 0x48 -> 0x02 is 0xba MTC periods.
        Assert.Null(t.OnMtc(0x02));
        Assert.True(t.TryGetTsc(out ulong wrapped));
        Assert.Equal(next + 0xbaUL * 400, wrapped);
    }

    [Fact]
    public void Without_calibration_cyc_is_reported_and_time_stays()
    {
        var t = new PtTimeTracker(new PtTimingConfig { MtcFreq = 3, CtcRatioDenominator = 2, CtcRatioNumerator = 100 });
        t.OnTsc(5000);
        Assert.Equal("no calibration", t.OnCyc(10));
        Assert.True(t.TryGetTsc(out ulong tsc));
        Assert.Equal(5000UL, tsc);
        Assert.Equal(1u, t.LostCyc);
        Assert.Equal("unexpected packet context", new PtTimeTracker(Skylake).OnTma(1, 1)); // TMA before any TSC
    }

    [Fact]
    public void On_real_skylake_traces_the_mtc_estimate_meets_each_later_tsc()
    {
        string? root = PtTestSupport.PtRealDir;
        if (root == null)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        int checkedTscs = 0;
        foreach (string name in new[] { "aux-cpu0.pt", "aux-cpu3.pt" })
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(root, "skylake-perf-4.14", name));
            var d = new PtPacketDecoder(bytes);
            Assert.Equal(PtStatus.Ok, d.SyncForward());
            var t = new PtTimeTracker(Skylake);
            ulong lastEstimate = 0;
            bool inPsb = false;
            while (d.Next(out PtPacket p) == PtStatus.Ok)
            {
                switch (p.Kind)
                {
                    case PtPacketKind.Psb: t.OnPsb(); inPsb = true; break;
                    case PtPacketKind.PsbEnd: t.OnPsbEnd(); inPsb = false; break;
                    case PtPacketKind.Cbr: t.OnCbr(p.Sub); break;
                    case PtPacketKind.Tma: Assert.Null(t.OnTma((ushort)p.Payload, (ushort)p.Aux)); break;
                    case PtPacketKind.Mtc:
                        Assert.Null(t.OnMtc((byte)p.Payload));
                        Assert.True(t.TryGetTsc(out ulong est));
                        Assert.True(est >= lastEstimate, $"{name}: time went back at 0x{d.Offset:x}");
                        lastEstimate = est;
                        break;
                    case PtPacketKind.Tsc:
                        if (t.TryGetTsc(out ulong before))
                        {
                            // Time never runs ahead of the next TSC. A TSC in a periodic PSB+ (tracing running, MTCs
                            // flowing) comes within one MTC period of the last MTC: the extrapolated time must
                            // land just before it; wrong shifts or ratios miss by far more. A TSC outside PSB+ follows
                            // a pause (no MTCs) and may be far ahead.
                            long diff = (long)(p.Payload - before);
                            log.WriteLine($"{name} 0x{d.Offset:x}: tsc {p.Payload:x} estimate {before:x} diff {diff}{(inPsb ? " (PSB+)" : "")}");
                            Assert.True(diff >= 0, $"{name}: estimate {before:x} passed the TSC {p.Payload:x}");
                            if (inPsb)
                            {
                                Assert.InRange(diff, 0, 8 * 50); // one MTC period: 2^3 CTC ticks of 50 TSC ticks
                                checkedTscs++;
                            }
                        }
                        t.OnTsc(p.Payload);
                        lastEstimate = p.Payload;
                        break;
                }
            }
        }
        Assert.True(checkedTscs >= 6, $"only {checkedTscs} TSCs checked");
    }

    [Fact]
    public void Dump_with_time_adds_a_tsc_column_to_timing_packets_and_changes_nothing_else()
    {
        string? root = PtTestSupport.PtRealDir;
        if (root == null)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        string dir = Path.Combine(root, "skylake-perf-4.14");
        string[] golden = File.ReadAllText(Path.Combine(dir, "aux-cpu0.ptdump.txt")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var output = new StringWriter();
        int errors = new PtDumpPrinter(output, new PtDumpPrinterOptions { ShowLastIp = true, ShowExecMode = true, ShowTime = true, Timing = Skylake })
            .Dump(File.ReadAllBytes(Path.Combine(dir, "aux-cpu0.pt")));
        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(0, errors);
        Assert.Equal(golden.Length, lines.Length); // no diagnostics: every timing packet had its time
        ulong last = 0;
        int timed = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            string kind = golden[i].Substring(18, Math.Min(10, golden[i].Length - 18)).TrimEnd();
            if (kind is "tsc" or "tma" or "mtc")
            {
                // ptdump's layout: payload in 25 columns, then "tsc  " and 16 hex digits.
                Assert.Equal(golden[i].PadRight(55) + "tsc  ", lines[i][..60]);
                ulong tsc = Convert.ToUInt64(lines[i][60..], 16);
                Assert.Equal(76, lines[i].Length);
                if (kind == "tsc") Assert.Equal(Convert.ToUInt64(golden[i][29..].Trim(), 16), tsc); // a TSC packet is its own time
                Assert.True(tsc >= last, $"time went back at line {i + 1}: {lines[i]}");
                last = tsc;
                timed++;
            }
            else Assert.Equal(golden[i], lines[i]);
        }
        Assert.True(timed > 100, $"only {timed} timing packets");
    }
}
