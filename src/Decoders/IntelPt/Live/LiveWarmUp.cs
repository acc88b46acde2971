using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>
/// Runs the live decode path once over a small made-up trace before the real one arrives, so the first real window
/// is not the one that pays for compiling it. Without this, the JIT compiles the packet, event and block decoders,
/// the sinks and the formatter, Iced, while bursts of trace queue up behind the first window: their capture to output
/// latency was a few hundred milliseconds, the p99 of a whole `trace --simulate` run (bench/trace/run.sh).
/// <para>
/// The trace loops over a call and a return (a compressed return, a taken conditional branch: TNT bits), with
/// timing packets and a PSB+ every few iterations (so windows are cut as in a real stream), and ends with a
/// syscall (TIP.PGD), through the caller's <see cref="ILiveOutput"/> (the same formatter, writing where the caller
/// discards it).
/// </para>
/// </summary>
public static class LiveWarmUp
{
    private const ulong CodeAddress = 0x10000;
    /// <summary>No method compiled for this long (after the minimum): the promotions are done (see <see cref="Run"/>).</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(100);

    // 0x10000: call 0x1000a; 0x10005: jnz 0x10000; 0x10007: syscall; 0x10009: nop; 0x1000a: nop; 0x1000b: ret
    private static ReadOnlySpan<byte> Code => [0xe8, 0x05, 0x00, 0x00, 0x00, 0x75, 0xf9, 0x0f, 0x05, 0x90, 0x90, 0xc3];

    /// <summary>
    /// Decodes the made-up trace into <paramref name="output"/> round after round, for at least
    /// <paramref name="minimum"/> and then until the runtime compiled nothing for a while (at most
    /// <paramref name="maximum"/>). The first round compiles the path (first tier); the rounds after it are what
    /// tiered compilation needs to optimise it: it counts calls only once no method was compiled for 100 ms, and
    /// promotes a method after 30 calls, on a background thread. Half a second gets there here; a real window then
    /// starts on optimised code (unoptimised code decoded slower than 4 MB/s of trace, so the first half second of a
    /// run queued up and its latency grew to some 200 ms).
    /// </summary>
    public static void Run(ILiveOutput output, bool timed, TimeSpan minimum, TimeSpan maximum)
    {
        byte[] trace = MakeTrace(iterationsPerPsb: 30, psbs: 8);
        var image = new PtImage();
        image.Add(new PtSection("[warm-up]", CodeAddress, Code.ToArray(), 0, Code.Length));
        var key = new StreamKey(false, -1, 0, 0);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long compiled = -1;
        TimeSpan stableSince = TimeSpan.Zero;
        do
        {
            var context = new StreamContext(new SidebandModelBuilder().Model, new ImageSource(), PerfTimeConversion.None, key, buildImages: false);
            ILiveStreamSink sink = output.Open(context, new ImageSource());
            using (var decoder = new LiveStreamDecoder(key, sink, image, new PtFlowConfig(), timed, maxBacklog: 1 << 20))
            {
                for (int at = 0; at < trace.Length; at += 256)
                    decoder.Append((ulong)at, trace.AsSpan(at, Math.Min(256, trace.Length - at)));
                decoder.Finish();
            }
            output.Flush();
            long now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                compiled = now;
                stableSince = clock.Elapsed;
            }
            else if (clock.Elapsed >= minimum && clock.Elapsed - stableSince >= Quiet) break;
        }
        while (clock.Elapsed < maximum);
    }

    private static byte[] MakeTrace(int iterationsPerPsb, int psbs)
    {
        var buffer = new byte[64 << 10];
        var enc = new PtStreamEncoder(buffer);
        ulong tsc = 1_000_000;
        for (int p = 0; p < psbs; p++)
        {
            enc.Write(PtPacket.Create(PtPacketKind.Psb));
            enc.ResetLastIp();
            enc.Write(PtPacket.CreateTsc(tsc));
            enc.Write(PtPacket.CreateModeExec(1));   // 64-bit
            enc.WriteIp(PtPacketKind.Fup, CodeAddress);
            enc.Write(PtPacket.Create(PtPacketKind.PsbEnd));
            bool last = p == psbs - 1;
            // Each iteration: the return (compressed: taken) and the jnz (taken, back to the call; not taken at the end).
            for (int i = 0; i < iterationsPerPsb; i += 3)
            {
                int n = Math.Min(3, iterationsPerPsb - i);
                ulong bits = 0;
                for (int k = 0; k < n; k++)
                {
                    bool final = last && i + k == iterationsPerPsb - 1;
                    bits = bits << 2 | 0b10 | (final ? 0UL : 1UL);
                }
                enc.Write(PtPacket.CreateTnt(2 * n, bits));
                tsc += 100;
                enc.Write(PtPacket.CreateTsc(tsc));
            }
        }
        enc.WriteIp(PtPacketKind.TipPgd, 0, PtIpCompression.Suppressed);
        return enc.Written.ToArray();
    }
}
