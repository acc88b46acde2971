using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>The packet loop allocates nothing: measured over millions of packets of a real (or synthetic) trace.</summary>
public class PtAllocationTests(ITestOutputHelper log)
{
    [Fact]
    public void Decoding_a_large_stream_allocates_zero_bytes()
    {
        string? root = PtTestSupport.PtRealDir;
        byte[] unit = root != null
            ? File.ReadAllBytes(Path.Combine(root, "mruby", "trace.pt"))
            : PtPacketGen.Encode(PtPacketGen.Sequence(new Random(1), 100_000, PtPacketGen.AllKinds)).Bytes;
        // ~32 MiB of whole copies: long enough that one allocation per packet would show as megabytes.
        var big = new byte[unit.Length * Math.Max(1, (32 << 20) / unit.Length)];
        for (int o = 0; o < big.Length; o += unit.Length) unit.CopyTo(big, o);

        Count(big); // JIT and tier-up before measuring
        long before = GC.GetAllocatedBytesForCurrentThread();
        (long packets, long errors) = Count(big);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        log.WriteLine($"{packets} packets, {errors} errors, {big.Length} bytes, {allocated} bytes allocated");
        Assert.True(packets > 1_000_000, $"only {packets} packets decoded");
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void A_packet_is_a_flat_sixteen_byte_value()
    {
        Assert.Equal(16, System.Runtime.CompilerServices.Unsafe.SizeOf<PtPacket>());
        Assert.True(typeof(PtPacket).IsValueType);
    }

    private static (long Packets, long Errors) Count(ReadOnlySpan<byte> bytes)
    {
        var d = new PtPacketDecoder(bytes);
        long packets = 0, errors = 0;
        var lastIp = new PtLastIp();
        if (d.SyncForward() != PtStatus.Ok) return (0, 0);
        while (true)
        {
            PtStatus s = d.Next(out PtPacket p);
            if (s == PtStatus.Ok)
            {
                packets++;
                lastIp.Update(p);
                continue;
            }
            if (s is PtStatus.EndOfStream or PtStatus.Truncated) return (packets, errors);
            errors++;
            if (d.SyncForward() != PtStatus.Ok) return (packets, errors);
        }
    }
}
