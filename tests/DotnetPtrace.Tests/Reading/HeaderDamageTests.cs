using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Cli.Dump;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Features;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Reading;

/// <summary>
/// Copies of real files with their feature payloads cut short (through the feature table's size field: every
/// length of small payloads, a spread of lengths of large ones) and with random bit flips: printing the header never throws or hangs, every
/// feature that cannot be decoded gets one "# feature NAME: ... at offset 0x.." line whose offset lies inside
/// that feature's bytes, and the other features still print.
/// </summary>
public sealed partial class HeaderDamageTests(ITestOutputHelper log) : IDisposable
{
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(5);
    private static readonly DateTime Fixed = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
    private readonly string _dir = Directory.CreateTempSubdirectory("ptrace-header-damage-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A section of the feature table: its feature, where its table entry is, where its payload is.</summary>
    private readonly record struct Section(HeaderFeature Feature, int TableEntry, long Offset, long Size);

    // Features whose payload can be empty or is not read at all: no problem to report when they are cut.
    private static readonly HashSet<HeaderFeature> MayBeEmpty = [HeaderFeature.BranchStack, HeaderFeature.Stat, HeaderFeature.BuildId];

    public static TheoryData<string> Sources => ["fresh perf record", "perf.data.intel_pt-4.14", "perf.data.hybrid_topology", "perf.data.branch_stack_spec", "perf.data.weight_struct"];

    [Theory]
    [MemberData(nameof(Sources))]
    public void Every_shortened_feature_payload_is_reported_with_its_offset(string source)
    {
        if (CopyOf(source) is not { } file) return;
        var sections = Sections(file);
        int cases = 0, reported = 0;
        foreach (Section s in sections)
        {
            foreach (long cut in Cuts(s.Size))
            {
                cases++;
                // Damage the copy in place and undo it after: cloning a megabyte per case would dominate the time.
                BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(s.TableEntry + 8), (ulong)cut);
                string text = PrintWithin(file, $"{s.Feature} cut to {cut}");
                BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(s.TableEntry + 8), (ulong)s.Size);
                var problems = Problems(text, s.Feature);
                foreach (long at in problems)
                    Assert.InRange(at, s.Offset, s.Offset + cut);
                reported += problems.Count;
                // Too short for its first count or string: the problem is at the payload's first byte.
                if (cut < 4 && !MayBeEmpty.Contains(s.Feature))
                    Assert.True(problems.SequenceEqual([s.Offset]), $"{s.Feature} cut to {cut}: expected a problem at 0x{s.Offset:x}\n{text}");
                // The features before and after still print.
                Assert.Contains("# missing features: ", text);
            }
        }
        log.WriteLine($"{source}: {sections.Count} features, {cases} shortened payloads, {reported} reported");
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Bit_flips_in_feature_payloads_never_crash_or_hang(string source)
    {
        if (CopyOf(source) is not { } file) return;
        var sections = Sections(file).Where(s => s.Size > 0).ToList();
        var random = new Random(4242);
        int reported = 0;
        const int Cases = 1500;
        for (int i = 0; i < Cases; i++)
        {
            Section s = sections[random.Next(sections.Count)];
            var flipped = new (long At, byte Mask)[1 + random.Next(4)];
            for (int k = 0; k < flipped.Length; k++)
            {
                flipped[k] = (s.Offset + random.NextInt64(s.Size), (byte)(1 << random.Next(8)));
                file[flipped[k].At] ^= flipped[k].Mask;
            }
            string text = PrintWithin(file, $"flip case {i} in {s.Feature}");
            for (int k = flipped.Length - 1; k >= 0; k--) file[flipped[k].At] ^= flipped[k].Mask;
            var problems = Problems(text, s.Feature);
            foreach (long at in problems) Assert.InRange(at, s.Offset, s.Offset + s.Size);
            reported += problems.Count;
        }
        log.WriteLine($"{source}: {Cases} flipped copies, {reported} problems reported");
    }

    /// <summary>The tool as users run it on a file cut inside its features: it ends normally and says where.</summary>
    [Fact]
    public void Dump_header_of_a_file_cut_inside_its_features_says_where()
    {
        if (CopyOf("fresh perf record") is not { } file) return;
        Section last = Sections(file).OrderBy(s => s.Offset).Last(s => s.Size > 8);
        string path = Path.Combine(_dir, "cut.data");
        File.WriteAllBytes(path, file.AsSpan(0, (int)(last.Offset + last.Size / 2)).ToArray());
        var r = Tool.Run(["dump", "--header", "-i", path]);
        log.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("# hostname : ", r.Stdout);
        Assert.Contains($"feature {(int)last.Feature} ({last.Feature}) at 0x{last.Offset:x}", r.Stderr);
        Assert.DoesNotContain("Unhandled exception", r.Stderr);
    }

    /// <summary>Every length for payloads up to 200 bytes; for larger ones the first 16 and 200 spread evenly (each case re-reads the whole file).</summary>
    private static IEnumerable<long> Cuts(long size) =>
        size <= 200 ? Enumerable.Range(0, (int)size).Select(c => (long)c)
            : Enumerable.Range(0, 16).Select(c => (long)c).Concat(Enumerable.Range(0, 200).Select(k => 16 + (size - 16) * k / 200)).Distinct();

    private static string PrintWithin(byte[] bytes, string what)
    {
        var task = Task.Run(() =>
        {
            using var reader = PerfDataReader.Open(new MemoryStream(bytes, writable: false), what);
            return HeaderPrinter.Format(reader, Fixed, TimeZoneInfo.Utc);
        });
        Assert.True(task.Wait(PerCase), $"{what}: header not printed within {PerCase}");
        return task.Result;
    }

    /// <summary>The file offsets named by "# feature NAME: ... at offset 0x.." lines for one feature.</summary>
    private static List<long> Problems(string text, HeaderFeature feature) =>
        [.. HeaderOracle.Lines(text)
            .Where(l => l.StartsWith($"{HeaderPrinter.ProblemPrefix}{FeatureNames.Of(feature)}: ", StringComparison.Ordinal))
            .Select(l => ProblemOffset().Match(l))
            .Select(m => { Assert.True(m.Success, $"no offset in: {m.Value}"); return long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture); })];

    [GeneratedRegex(@" at offset 0x([0-9a-f]+) \(byte \d+ of its \d+\)$")]
    private static partial Regex ProblemOffset();

    /// <summary>The feature table of a file-mode perf.data (header: data section at 40, feature bitmap at 72).</summary>
    private static List<Section> Sections(byte[] file)
    {
        ulong dataOffset = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(40));
        ulong dataSize = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(48));
        int table = (int)(dataOffset + dataSize);
        var list = new List<Section>();
        for (int bit = 0; bit < 256; bit++)
        {
            if ((file[72 + bit / 8] >> (bit % 8) & 1) == 0) continue;
            int entry = table + 16 * list.Count;
            list.Add(new Section((HeaderFeature)bit, entry,
                (long)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(entry)), (long)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(entry + 8))));
        }
        Assert.NotEmpty(list);
        return list;
    }

    /// <summary>A copy in this test's temp directory: of a shared file, or of one perf records now.</summary>
    private byte[]? CopyOf(string source)
    {
        string copy = Path.Combine(_dir, "source.data");
        if (source == "fresh perf record")
        {
            var r = ProcessRunner.Run(Perf.Executable, ["record", "-o", copy, "--", "true"], TimeSpan.FromSeconds(60), workingDirectory: _dir);
            if (r.ExitCode != 0) { log.WriteLine($"SKIPPED: perf record failed here: {r.Stderr.Trim()}"); return null; }
        }
        else
        {
            if (TestDataFiles.Folder is null) { log.WriteLine(TestDataFiles.Absent); return null; }
            File.Copy(TestDataFiles.PathOf(source), copy);
        }
        return File.ReadAllBytes(copy);
    }
}
