using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>
/// Garbage in: random bytes, bit flips and truncations of real traces. The decoder must never throw, always end,
/// report every error with an offset inside the buffer, and resume at the next PSB after it.
/// </summary>
public class PtBadInputTests(ITestOutputHelper log)
{
    private static readonly byte[] Psb = [0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82];

    /// <summary>Decodes like a dump does and checks each error and resync; returns (packets, errors).</summary>
    private static (int Packets, int Errors) DecodeChecked(ReadOnlySpan<byte> bytes, string what)
    {
        var d = new PtPacketDecoder(bytes);
        int packets = 0, errors = 0;
        PtStatus s = d.SyncForward();
        if (s != PtStatus.Ok)
        {
            Assert.Equal(PtStatus.EndOfStream, s);
            Assert.Equal(-1, PtSync.Forward(bytes, 0)); // no PSB anywhere, or we would have found it
            return (0, 0);
        }
        Assert.True(PtSync.IsPsbAt(bytes, d.Offset), $"{what}: first sync at 0x{d.Offset:x} is not a PSB");
        // Bounded loop: every step either consumes at least one byte or moves to a later PSB.
        for (int steps = 0; ; steps++)
        {
            Assert.True(steps <= 2 * bytes.Length + 2, $"{what}: decoder does not advance");
            int offset = d.Offset;
            s = d.Next(out PtPacket p);
            if (s == PtStatus.Ok)
            {
                Assert.True(p.Size > 0 && offset + p.Size <= bytes.Length, $"{what}: packet {p} at 0x{offset:x} overruns");
                Assert.Equal(offset + p.Size, d.Offset);
                packets++;
                continue;
            }
            PtError error = d.ErrorFor(s);
            Assert.Equal(offset, error.Offset);
            Assert.InRange(error.Offset, 0, bytes.Length);
            if (s == PtStatus.EndOfStream)
            {
                Assert.Equal(bytes.Length, offset);
                return (packets, errors);
            }
            if (s == PtStatus.Truncated)
            {
                Assert.True(offset < bytes.Length, $"{what}: truncated packet reported at the end");
                return (packets, errors);
            }
            errors++;
            int sync = d.SyncOffset;
            PtStatus resync = d.SyncForward();
            // The next PSB: the first one starting after the failing offset (one that began up to 15 bytes earlier
            // and was swallowed by the bad packet counts too), never the PSB we were synced to.
            int from = offset == sync ? offset + 16 : offset;
            int expected = PtSync.Forward(bytes, from - Math.Min(from, 15));
            if (expected < 0)
            {
                Assert.Equal(PtStatus.EndOfStream, resync);
                return (packets, errors);
            }
            Assert.Equal(PtStatus.Ok, resync);
            Assert.Equal(expected, d.Offset);
            Assert.True(PtSync.IsPsbAt(bytes, d.Offset));
            Assert.NotEqual(sync, d.Offset);
        }
    }

    [Fact]
    public void Random_bytes_never_throw_or_hang_and_every_error_is_placed()
    {
        int totalErrors = 0;
        for (int seed = 1; seed <= 200; seed++)
        {
            var r = new Random(seed);
            var bytes = new byte[r.Next(0, 20_000)];
            r.NextBytes(bytes);
            for (int i = 0; i < bytes.Length / 300 && bytes.Length >= 16; i++) Psb.CopyTo(bytes.AsSpan(r.Next(bytes.Length - 15)));
            totalErrors += DecodeChecked(bytes, $"random seed {seed}").Errors;
        }
        Assert.True(totalErrors > 100, $"only {totalErrors} errors from random bytes");
    }

    [Fact]
    public void Every_truncation_of_a_real_trace_start_ends_cleanly()
    {
        byte[] trace = RealOrSynthetic(out string name);
        // Every cut in the first 2 KiB (all packet kinds at the start, PSB+ headers), then spread over the rest.
        var cuts = Enumerable.Range(0, Math.Min(trace.Length, 2048)).Concat(Enumerable.Range(0, 200).Select(i => (int)((long)trace.Length * i / 200)));
        foreach (int cut in cuts)
        {
            var (packets, errors) = DecodeChecked(trace.AsSpan(0, cut), $"{name} cut at {cut}");
            Assert.Equal(0, errors); // cutting a valid trace only ever truncates its last packet
        }
    }

    [Fact]
    public void Bit_flips_in_a_real_trace_are_errors_with_offsets_never_exceptions()
    {
        byte[] trace = RealOrSynthetic(out string name);
        var r = new Random(3);
        int errors = 0;
        for (int i = 0; i < 100; i++)
        {
            byte[] copy = (byte[])trace.Clone();
            for (int k = 0; k < 20; k++) copy[r.Next(copy.Length)] ^= (byte)(1 << r.Next(8));
            errors += DecodeChecked(copy, $"{name} flips #{i}").Errors;
        }
        Assert.True(errors > 0);
    }

    [Fact]
    public void Each_error_kind_is_reported_at_the_failing_packet()
    {
        // PSB, then one bad packet, then a PSB to resync to.
        (byte[] Bad, PtStatus Expected)[] cases =
        [
            ([0x89], PtStatus.BadOpcode),                                                      // no such opcode
            ([0x02, 0x04], PtStatus.BadOpcode),                                              // unknown extended opcode
            ([0x02, 0xc3, 0x11], PtStatus.BadOpcode),                                        // unknown ext2
            ([0xad, 0, 0, 0, 0, 0, 0, 0, 0], PtStatus.BadIpBytes),                           // TIP with IPBytes 5
            ([0xed, 0, 0, 0, 0, 0, 0, 0, 0], PtStatus.BadIpBytes),                           // TIP with IPBytes 7
            ([0x99, 0x40], PtStatus.BadPacket),                                              // MODE leaf 2
            ([0x02, 0x73, 0, 0, 1, 0, 0], PtStatus.BadPacket),                               // TMA reserved byte
            ([0x02, 0x73, 0, 0, 0, 0, 2], PtStatus.BadPacket),                               // TMA FC beyond 9 bits
            ([0x02, 0xa3, 1, 0, 0, 0, 0, 0], PtStatus.BadPacket),                            // TNT-64 without branches
            ([0x02, 0x52, 0, 0, 0, 0, 0, 0, 0, 0], PtStatus.BadPacket),                      // PTW PayloadBytes 2
            ([0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00], PtStatus.BadPacket), // CYC over 64 bits
            ([0x02, 0x82, 0x02, 0x82, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], PtStatus.BadPacket), // broken PSB
        ];
        foreach (var (bad, expected) in cases)
        {
            byte[] bytes = [.. Psb, 0x00, .. bad, .. new byte[7], .. Psb, 0x00];
            var d = new PtPacketDecoder(bytes);
            Assert.Equal(PtStatus.Ok, d.SyncForward());
            Assert.Equal(PtStatus.Ok, d.Next(out _));
            Assert.Equal(PtStatus.Ok, d.Next(out _));
            PtStatus s = d.Next(out _);
            Assert.True(s == expected, $"{Convert.ToHexString(bad)}: {s}, expected {expected}");
            Assert.Equal(new PtError(expected, 17), d.ErrorFor(s));
            Assert.Equal(17, d.Offset); // an error does not consume the packet
            Assert.Equal(PtStatus.Ok, d.SyncForward());
            Assert.Equal(bytes.Length - 17, d.Offset);
            Assert.Equal(PtStatus.Ok, d.Next(out PtPacket psb));
            Assert.Equal(PtPacketKind.Psb, psb.Kind);
        }
    }

    [Fact]
    public void Truncated_packets_are_reported_as_truncated_at_their_start()
    {
        var r = new Random(9);
        foreach (PtPacketKind kind in PtPacketGen.AllKinds)
        {
            PtPacket p = PtPacketGen.Packet(r, kind);
            if (p.Size == 1) continue;
            var bytes = new byte[p.Size];
            PtPacketEncoder.Encode(p, bytes);
            for (int cut = 1; cut < p.Size; cut++)
            {
                var d = new PtPacketDecoder(bytes.AsSpan(0, cut));
                d.SyncSet(0);
                PtStatus s = d.Next(out _);
                Assert.True(s == PtStatus.Truncated, $"{p} cut to {cut} bytes: {s}");
                Assert.Equal(0, d.Offset);
            }
        }
    }

    private byte[] RealOrSynthetic(out string name)
    {
        string? root = PtTestSupport.PtRealDir;
        if (root != null)
        {
            name = "foo/trace.pt";
            return File.ReadAllBytes(Path.Combine(root, "foo", "trace.pt"));
        }
        log.WriteLine("../shared/testdata/pt-real is absent: using a synthetic trace");
        name = "synthetic";
        return PtPacketGen.Encode(PtPacketGen.Sequence(new Random(1), 5000, PtPacketGen.AllKinds)).Bytes;
    }
}
