using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>Encoder and decoder are inverses: random valid packet sequences survive bytes and back, offsets included.</summary>
public class PtRoundTripTests
{
    [Fact]
    public void Random_sequences_of_every_kind_round_trip_with_their_offsets()
    {
        var seenKinds = new HashSet<PtPacketKind>();
        for (int seed = 1; seed <= 300; seed++)
        {
            var r = new Random(seed);
            List<PtPacket> packets = PtPacketGen.Sequence(r, r.Next(1, 400), PtPacketGen.AllKinds);
            (byte[] bytes, int[] offsets) = PtPacketGen.Encode(packets);

            // SyncSet, not SyncForward: two PSBs in a row are one pattern run, and a PSB search lands on its end.
            var d = new PtPacketDecoder(bytes);
            Assert.Equal(PtStatus.Ok, d.SyncSet(0));
            for (int i = 0; i < packets.Count; i++)
            {
                Assert.Equal(offsets[i], d.Offset);
                PtStatus s = d.Next(out PtPacket got);
                Assert.True(s == PtStatus.Ok, $"seed {seed}: packet {i} {packets[i]} at 0x{offsets[i]:x}: {s}");
                Assert.True(packets[i] == got, $"seed {seed}: packet {i} at 0x{offsets[i]:x}: wrote {packets[i]}, read {got}");
                seenKinds.Add(got.Kind);
            }
            Assert.Equal(bytes.Length, d.Offset);
            Assert.Equal(PtStatus.EndOfStream, d.Next(out _));
        }
        // The property is only as good as its coverage: every kind must have been exercised.
        var missing = Enum.GetValues<PtPacketKind>().Where(k => k != PtPacketKind.None && !seenKinds.Contains(k)).ToList();
        Assert.True(missing.Count == 0, "never generated: " + string.Join(", ", missing));
    }

    [Fact]
    public void Encoded_size_agrees_with_the_packet_size_for_every_kind()
    {
        var r = new Random(7);
        Span<byte> buffer = stackalloc byte[PtPacketEncoder.MaxPacketSize];
        foreach (PtPacketKind kind in PtPacketGen.AllKinds)
            for (int i = 0; i < 200; i++)
            {
                PtPacket p = PtPacketGen.Packet(r, kind);
                Assert.Equal(p.Size, PtPacketEncoder.Encode(p, buffer));
                Assert.Equal(0, PtPacketEncoder.Encode(p, buffer[..(p.Size - 1)])); // too small: nothing written
            }
    }

    [Fact]
    public void Stream_encoder_picks_the_shortest_correct_compression_and_the_last_ip_restores_every_address()
    {
        var r = new Random(11);
        var buffer = new byte[1 << 20];
        var ips = new List<ulong>();
        var chosen = new List<PtIpCompression>();
        var enc = new PtStreamEncoder(buffer);
        enc.Write(PtPacket.Create(PtPacketKind.Psb));
        ulong ip = 0x7fff_1234_5678;
        for (int i = 0; i < 5000; i++)
        {
            // Nearby jumps (16/32-bit updates), far canonical ones (sext-48), kernel and non-canonical addresses.
            ip = r.Next(6) switch
            {
                0 => ip ^ (ulong)r.Next(1 << 16),
                1 => ip ^ (ulong)r.NextInt64(1L << 32),
                2 => (ulong)r.NextInt64(1L << 47),
                3 => 0xffff_8000_0000_0000 | (ulong)r.NextInt64(1L << 47),
                4 => (ip & 0xffff_0000_0000_0000) | (ulong)r.NextInt64(1L << 48),
                _ => (ulong)r.NextInt64() | (ulong)r.Next(2) << 63,
            };
            PtIpCompression expected = PtIp.Shortest(ip, enc.LastIp);
            Assert.True(enc.WriteIp(PtPacketKind.Tip, ip) > 0);
            ips.Add(ip);
            chosen.Add(expected);
        }

        // Decode and decompress: every address comes back, and no shorter form would have been correct.
        var d = new PtPacketDecoder(enc.Written);
        Assert.Equal(PtStatus.Ok, d.SyncForward());
        Assert.Equal(PtStatus.Ok, d.Next(out _));
        var last = new PtLastIp();
        for (int i = 0; i < ips.Count; i++)
        {
            Assert.Equal(PtStatus.Ok, d.Next(out PtPacket p));
            Assert.Equal(chosen[i], p.IpCompression);
            PtLastIp before = last;
            Assert.True(last.Update(p));
            Assert.Equal(ips[i], last.Ip);
            int size = PtIp.PayloadSize(p.IpCompression);
            foreach (PtIpCompression shorter in new[] { PtIpCompression.Update16, PtIpCompression.Update32, PtIpCompression.SignExtend48 })
                if (PtIp.PayloadSize(shorter) < size)
                    Assert.False(PtIp.CanEncode(ips[i], shorter, before), $"{ips[i]:x} after {before.Ip:x}: {shorter} would do");
        }
        Assert.Contains(PtIpCompression.Update16, chosen);
        Assert.Contains(PtIpCompression.Update32, chosen);
        Assert.Contains(PtIpCompression.SignExtend48, chosen);
        Assert.Contains(PtIpCompression.Update48, chosen);
        Assert.Contains(PtIpCompression.Full, chosen);
    }

    [Fact]
    public void Stream_encoder_honours_a_requested_compression_and_refuses_one_that_loses_the_ip()
    {
        var enc = new PtStreamEncoder(new byte[64]);
        Assert.Equal(-1, enc.WriteIp(PtPacketKind.Fup, 0x1234, PtIpCompression.Update16)); // no last IP yet
        Assert.Equal(9, enc.WriteIp(PtPacketKind.Fup, 0x1234, PtIpCompression.Full));
        Assert.Equal(7, enc.WriteIp(PtPacketKind.Tip, 0x1238, PtIpCompression.Update48));
        Assert.Equal(-1, enc.WriteIp(PtPacketKind.Tip, 0x1_0000_1238, PtIpCompression.Update32));
        Assert.Equal(-1, enc.WriteIp(PtPacketKind.Tip, 0x8000_0000_0000, PtIpCompression.SignExtend48));
        Assert.Equal(1, enc.WriteIp(PtPacketKind.TipPgd, 0, PtIpCompression.Suppressed));

        var d = new PtPacketDecoder(enc.Written);
        d.SyncSet(0);
        var last = new PtLastIp();
        var seen = new List<(PtIpCompression, ulong, bool)>();
        while (d.Next(out PtPacket p) == PtStatus.Ok)
        {
            last.Update(p);
            seen.Add((p.IpCompression, last.Ip, last.Suppressed));
        }
        Assert.Equal([(PtIpCompression.Full, 0x1234UL, false), (PtIpCompression.Update48, 0x1238UL, false), (PtIpCompression.Suppressed, 0x1238UL, true)], seen);
    }
}
