using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>The image model against the facts it rests on: readelf's program headers, the memory dumps' page lists.</summary>
public partial class FlowImageTests(ITestOutputHelper log)
{
    [GeneratedRegex(@"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", RegexOptions.Multiline)]
    private static partial Regex LoadLine();

    [Fact]
    public void Elf_segments_are_mapped_where_readelf_says()
    {
        string elf = "/bin/true";
        var r = PtTestSupport.Run("readelf", ["-lW", elf], TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, $"readelf failed (binutils needed): {r.Stderr}");
        var loads = LoadLine().Matches(r.Stdout).Select(m => (Offset: Convert.ToUInt64(m.Groups[1].Value, 16),
            Vaddr: Convert.ToUInt64(m.Groups[2].Value, 16), FileSize: Convert.ToUInt64(m.Groups[3].Value, 16))).ToList();
        Assert.NotEmpty(loads);
        byte[] file = File.ReadAllBytes(elf);

        var image = new PtImage();
        PtImageLoader.AddElf(image, elf);
        var rebased = new PtImage();
        const ulong Base = 0x7f00_0000_0000;
        PtImageLoader.AddElf(rebased, elf, Base);
        ulong lowest = loads.Min(l => l.Vaddr);
        Span<byte> got = stackalloc byte[16];
        foreach (var (offset, vaddr, size) in loads.Where(l => l.FileSize >= 16))
        {
            foreach (ulong at in new[] { 0UL, size / 2, size - 16 })
            {
                ReadOnlySpan<byte> want = file.AsSpan((int)(offset + at), 16);
                Assert.Equal(16, image.Read(vaddr + at, got));
                Assert.True(want.SequenceEqual(got), $"bytes at 0x{vaddr + at:x}");
                Assert.Equal(16, rebased.Read(vaddr - lowest + Base + at, got));
                Assert.True(want.SequenceEqual(got), $"rebased bytes at 0x{vaddr - lowest + Base + at:x}");
            }
        }
        log.WriteLine($"{elf}: {loads.Count} PT_LOAD segments checked");
    }

    [Fact]
    public void A_section_added_over_others_replaces_the_overlapped_part()
    {
        // libipt's pt_image_add: a new overlapping section truncates or splits the existing ones.
        var image = new PtImage();
        image.Add(new PtSection("a", 0x1000, Enumerable.Repeat((byte)0xaa, 0x2000).ToArray(), 0, 0x2000));
        image.Add(new PtSection("b", 0x1800, Enumerable.Repeat((byte)0xbb, 0x800).ToArray(), 0, 0x800));
        Span<byte> one = stackalloc byte[1];
        Assert.Equal(1, image.Read(0x17ff, one)); Assert.Equal(0xaa, one[0]);
        Assert.Equal(1, image.Read(0x1800, one)); Assert.Equal(0xbb, one[0]);
        Assert.Equal(1, image.Read(0x1fff, one)); Assert.Equal(0xbb, one[0]);
        Assert.Equal(1, image.Read(0x2000, one)); Assert.Equal(0xaa, one[0]);
        Assert.Equal(0, image.Read(0x3000, one));
        Assert.Equal(3, image.Sections.Count);
        // A read across adjacent sections gets both.
        Span<byte> two = stackalloc byte[2];
        Assert.Equal(2, image.Read(0x17ff, two));
        Assert.Equal(new byte[] { 0xaa, 0xbb }, two.ToArray());
    }

    [Fact]
    public void A_memory_dump_merges_pages_that_follow_each_other()
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        Span<byte> b = stackalloc byte[8];
        foreach (string name in new[] { "dyn_test", "icelake_tip", "mruby" })
        {
            string dir = Path.Combine(root, name);
            byte[] addr = File.ReadAllBytes(Path.Combine(dir, "pages.addr"));
            byte[] dump = File.ReadAllBytes(Path.Combine(dir, "pages.dump"));
            ulong[] pages = Enumerable.Range(0, addr.Length / 8).Select(i => BitConverter.ToUInt64(addr, i * 8)).ToArray();
            int runs = 1 + Enumerable.Range(1, pages.Length - 1).Count(i => pages[i] != pages[i - 1] + 4096);
            var image = new PtImage();
            Assert.Equal(runs, PtImageLoader.AddMemoryDump(image, Path.Combine(dir, "pages.dump"), Path.Combine(dir, "pages.addr")));
            for (int i = 0; i < pages.Length; i++)
            {
                Assert.Equal(8, image.Read(pages[i] + 100, b));
                Assert.True(dump.AsSpan(i * 4096 + 100, 8).SequenceEqual(b), $"{name} page {i}");
            }
            log.WriteLine($"{name}: {pages.Length} pages in {runs} sections");
        }
    }
}
