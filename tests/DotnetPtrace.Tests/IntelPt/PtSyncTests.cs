using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>PSB synchronisation forward, backward and at an offset, on streams whose PSB positions we know.</summary>
public class PtSyncTests
{
    // Packets with PSBs at known places, and bytes that imitate half a PSB in between.
    private static (byte[] Bytes, List<int> Psbs) Stream(int seed)
    {
        var r = new Random(seed);
        var packets = PtPacketGen.Sequence(r, 3000, PtPacketGen.LibiptKinds.Where(k => k != PtPacketKind.Psb).ToArray());
        for (int i = 50; i < packets.Count; i += r.Next(30, 300))
        {
            packets.Insert(i, PtPacket.Create(PtPacketKind.Psb));
            packets.Insert(i + 1, PtPacket.Create(PtPacketKind.PsbEnd)); // keep PSBs apart: a run of two is one PSB to a search
        }
        (byte[] bytes, int[] offsets) = PtPacketGen.Encode(packets);
        var psbs = offsets.Where((o, i) => packets[i].Kind == PtPacketKind.Psb).ToList();
        return (bytes, psbs);
    }

    [Fact]
    public void Sync_forward_visits_every_psb_in_order_then_reports_the_end()
    {
        for (int seed = 1; seed <= 20; seed++)
        {
            (byte[] bytes, List<int> psbs) = Stream(seed);
            var d = new PtPacketDecoder(bytes);
            var found = new List<int>();
            while (d.SyncForward() == PtStatus.Ok)
            {
                Assert.Equal(d.Offset, d.SyncOffset);
                found.Add(d.Offset);
            }
            Assert.Equal(psbs, found);
        }
    }

    [Fact]
    public void Sync_backward_visits_every_psb_from_the_end()
    {
        for (int seed = 1; seed <= 20; seed++)
        {
            (byte[] bytes, List<int> psbs) = Stream(seed);
            var d = new PtPacketDecoder(bytes);
            var found = new List<int>();
            while (d.SyncBackward() == PtStatus.Ok) found.Add(d.Offset);
            psbs.Reverse();
            Assert.Equal(psbs, found);
        }
    }

    [Fact]
    public void Sync_forward_from_any_offset_lands_on_the_next_psb()
    {
        (byte[] bytes, List<int> psbs) = Stream(42);
        var r = new Random(42);
        for (int i = 0; i < 500; i++)
        {
            int at = r.Next(bytes.Length);
            var d = new PtPacketDecoder(bytes);
            Assert.Equal(PtStatus.Ok, d.SyncSet(at));
            PtStatus s = d.SyncForward();
            // SyncSet made 'at' the sync point, so the search skips the 16 bytes a PSB there would take and then
            // looks back 15: the first PSB strictly after 'at'.
            int expected = psbs.FirstOrDefault(p => p > at, -1);
            if (expected < 0) Assert.Equal(PtStatus.EndOfStream, s);
            else Assert.Equal(expected, d.Offset);
        }
    }

    [Fact]
    public void Sync_set_accepts_any_offset_in_the_buffer_and_decodes_from_there()
    {
        (byte[] bytes, List<int> psbs) = Stream(3);
        var d = new PtPacketDecoder(bytes);
        Assert.Equal(PtStatus.NoSync, d.Next(out _));
        Assert.Equal(PtStatus.EndOfStream, d.SyncSet(bytes.Length + 1));
        Assert.Equal(PtStatus.Ok, d.SyncSet(psbs[2]));
        Assert.Equal(psbs[2], d.SyncOffset);
        Assert.Equal(PtStatus.Ok, d.Next(out PtPacket p));
        Assert.Equal(PtPacketKind.Psb, p.Kind);
        Assert.Equal(PtStatus.Ok, d.SyncSet(bytes.Length));
        Assert.Equal(PtStatus.EndOfStream, d.Next(out _));
    }

    [Fact]
    public void A_run_of_psb_patterns_syncs_to_its_last_sixteen_bytes_as_libipt_does()
    {
        byte[] bytes = [0x00, .. Enumerable.Repeat(new byte[] { 0x02, 0x82 }, 11).SelectMany(x => x), 0x00];
        var d = new PtPacketDecoder(bytes);
        Assert.Equal(PtStatus.Ok, d.SyncForward());
        Assert.Equal(1 + 22 - 16, d.Offset);
    }

    [Fact]
    public void Sync_at_psb_accepts_exactly_the_psb_offsets()
    {
        (byte[] bytes, List<int> psbs) = Stream(5);
        var set = psbs.ToHashSet();
        var d = new PtPacketDecoder(bytes);
        for (int at = 0; at <= bytes.Length; at++)
        {
            PtStatus s = d.SyncAtPsb(at);
            Assert.Equal(set.Contains(at) ? PtStatus.Ok : PtStatus.NoSync, s);
            if (s == PtStatus.Ok) Assert.Equal(at, d.Offset);
        }
        Assert.Equal(PtStatus.EndOfStream, d.SyncAtPsb(bytes.Length + 1));
    }
}
