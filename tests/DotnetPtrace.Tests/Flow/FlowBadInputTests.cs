using System.Diagnostics;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>
/// Bad input never ends a decode with an exception or a hang: truncated, bit-flipped, shuffled and random traces,
/// the wrong image, an empty image. Every error comes with an offset inside the trace, and decoding goes on after it.
/// </summary>
public class FlowBadInputTests(ITestOutputHelper log)
{
    private static (string[] Lines, PtFlowSummary Summary) Decode(byte[] trace, PtImage image, string what)
    {
        var watch = Stopwatch.StartNew();
        var result = FlowTestSupport.OurText(trace, image, FlowTestSupport.Config("6/94"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"{what}: took {watch.Elapsed}");
        FlowErrorLines.AssertHaveOffsets(result.Lines, trace.Length, what);
        Assert.Equal(result.Lines.Count(l => l.Contains(" error: ")), result.Summary.Errors);
        return result;
    }

    private static IEnumerable<(string Name, byte[] Trace, PtImage Image)> RealTraces()
    {
        if (PtTestSupport.PtRealDir is not { } root) yield break;
        foreach (string name in new[] { "Unzip", "dyn_test", "icelake_tip", "foo" })
        {
            string dir = Path.Combine(root, name);
            yield return (name, File.ReadAllBytes(Path.Combine(dir, "trace.pt")), FlowTestSupport.LoadImage(dir));
        }
    }

    [Fact]
    public void Truncated_bit_flipped_and_shuffled_traces_decode_with_errors_at_offsets()
    {
        int variants = 0;
        foreach (var (name, trace, image) in RealTraces())
        {
            var random = new Random(name.Length * 7919);
            for (int i = 0; i < 10; i++)
            {
                int cut = random.Next(trace.Length + 1);
                Decode(trace[..cut], image, $"{name} cut at {cut}");
                variants++;
            }
            for (int i = 0; i < 20; i++)
            {
                byte[] b = (byte[])trace.Clone();
                int flips = 1 + random.Next(32);
                for (int k = 0; k < flips; k++) b[random.Next(b.Length)] ^= (byte)(1 << random.Next(8));
                Decode(b, image, $"{name} with {flips} flipped bits (variant {i})");
                variants++;
            }
            for (int i = 0; i < 5; i++)
            {
                // Chunks in random order: PSBs survive, everything between them is out of place.
                int chunk = 16 << random.Next(6);
                var chunks = Enumerable.Range(0, (trace.Length + chunk - 1) / chunk).OrderBy(_ => random.Next()).ToList();
                byte[] b = chunks.SelectMany(c => trace.Skip(c * chunk).Take(chunk)).ToArray();
                var (_, s) = Decode(b, image, $"{name} shuffled in {chunk}-byte chunks");
                log.WriteLine($"{name} shuffled ({chunk}): {s.Instructions} instructions, {s.Errors} errors, {s.Gaps} gaps");
                variants++;
            }
        }
        if (variants == 0) log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
    }

    [Fact]
    public void Random_bytes_and_degenerate_traces_decode_without_exceptions()
    {
        var image = new PtImage();
        var random = new Random(42);
        for (int i = 0; i < 50; i++)
        {
            var b = new byte[random.Next(1, 4096)];
            random.NextBytes(b);
            // Half of them get a PSB at a random place so the decoder gets past syncing.
            if (i % 2 == 0 && b.Length > 32)
            {
                int at = random.Next(b.Length - 18);
                for (int k = 0; k < 16; k += 2) { b[at + k] = 0x02; b[at + k + 1] = 0x82; }
            }
            Decode(b, image, $"random #{i}");
        }
        var (lines, s) = Decode([], image, "empty trace");
        Assert.Empty(lines);
        Assert.Equal(0, s.Instructions);
        Decode(new byte[4096], image, "all PAD");
        byte[] psbs = Enumerable.Repeat(new byte[] { 0x02, 0x82 }, 512).SelectMany(x => x).ToArray();
        Decode(psbs, image, "only PSB patterns");
    }

    [Fact]
    public void An_empty_image_reports_unmapped_memory_at_each_enable()
    {
        foreach (var (name, trace, _) in RealTraces())
        {
            var (lines, s) = Decode(trace, new PtImage(), $"{name} without image");
            Assert.Equal(0, s.Instructions);
            Assert.True(s.Errors > 0, $"{name}: no error without an image");
            Assert.All(lines.Where(l => l.Contains(" error: ")), l => Assert.EndsWith("no memory mapped at this address]", l));
            log.WriteLine($"{name} without image: {s.Errors} errors, first {lines.First(l => l.Contains(" error: "))}");
        }
    }

    [Fact]
    public void A_wrong_image_gives_errors_not_exceptions()
    {
        if (PtTestSupport.PtRealDir is not { } root)
        {
            log.WriteLine("skipped: ../shared/testdata/pt-real is absent");
            return;
        }
        byte[] trace = File.ReadAllBytes(Path.Combine(root, "Unzip", "trace.pt"));
        // mruby's code is mapped at Unzip's addresses (both start at 0x400000): wrong instructions, same addresses.
        var (_, wrong) = Decode(trace, FlowTestSupport.LoadImage(Path.Combine(root, "mruby")), "Unzip with mruby's memory");
        // foo's code is elsewhere: nothing mapped at all.
        var (_, elsewhere) = Decode(trace, FlowTestSupport.LoadImage(Path.Combine(root, "foo")), "Unzip with foo's memory");
        Assert.True(wrong.Errors > 0 && elsewhere.Errors > 0);
        log.WriteLine($"wrong image: {wrong.Instructions} instructions, {wrong.Errors} errors; unrelated image: {elsewhere.Errors} errors");
    }

    [Fact]
    public void Unusable_image_files_are_reported_with_their_path()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"flow-img-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            string dump = Path.Combine(dir, "pages.dump"), addr = Path.Combine(dir, "pages.addr");
            File.WriteAllBytes(dump, new byte[4096]);
            File.WriteAllBytes(addr, new byte[12]);
            var e = Assert.Throws<PtImageException>(() => PtImageLoader.AddMemoryDump(new PtImage(), dump, addr));
            Assert.Contains(addr, e.Message);
            File.WriteAllBytes(addr, new byte[16]);
            e = Assert.Throws<PtImageException>(() => PtImageLoader.AddMemoryDump(new PtImage(), dump, addr));
            Assert.Contains(dump, e.Message);
            e = Assert.Throws<PtImageException>(() => PtImageLoader.AddRaw(new PtImage(), Path.Combine(dir, "missing"), 0x1000));
            Assert.Contains("missing", e.Message);
            e = Assert.Throws<PtImageException>(() => PtImageLoader.AddElf(new PtImage(), dump));
            Assert.Contains("not an ELF file", e.Message);
            Assert.False(PtImageLoader.TryParseRawSpec("file", out _, out _, out _, out _, out string? error));
            Assert.Contains("FILE:ADDR", error);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
