using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Cli.Trace;
using DotnetPtrace.Decoders.IntelPt;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.LiveTrace;

/// <summary>
/// Issue 9's second proof: a trace arriving faster than the decoder can follow. The simulated AUX producer (the
/// kernel's side of an AUX ring) replays a software-PT recording 1500 times over at 50 MB/s into a 4 MiB ring,
/// far beyond what the instruction listing decodes, with a 2 MiB queue before the decoder. The drain must not
/// wait for the decoder: the file keeps every byte (its AUXTRACE payload is the input, byte for byte, and the
/// producer lost nothing); the live output reports each range it left out with its byte count, ending at a PSB of
/// the stream where decoding resumed; and the bytes decoded plus the bytes reported skipped are exactly the input.
/// </summary>
public sealed class OverloadTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-trace-overload-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Regex SkipLine = new(@"^\[skipped (\d+) bytes of trace of tid (\d+), aux 0x([0-9a-f]+)\.\.0x([0-9a-f]+): (.*)\]$", RegexOptions.Multiline);

    [Fact]
    public void An_overloaded_decoder_skips_at_PSBs_and_says_how_much_while_the_file_keeps_everything()
    {
        if (TraceTestSupport.MissingPrerequisite() is { } missing) { output.WriteLine($"skipped: {missing}"); return; }
        string saved = TraceTestSupport.ControlFlowRecording;
        var original = Assert.Single(TraceTestSupport.Streams(saved));
        const int Repeat = 1500;
        string kept = Path.Combine(_dir, "kept.data");

        var (code, stdout, stderr) = TraceTestSupport.Trace(new TraceOptions
        {
            Record = new RecordOptions(),
            Simulate = saved,
            Repeat = Repeat,
            Rate = 50_000_000,
            QueueBytes = 2 << 20,
            KeepFile = kept,
            Format = DecodeFormat.Insn,
            Stat = true,
        }, bracketLinesOnly: true);
        output.WriteLine(stderr);
        Assert.Equal(0, code);

        // The file: every byte the producer was given, in order, none lost on the way in.
        Assert.Matches(@"SIMULATED AUX producer: ([\d,]+) of \1 bytes captured .*, 0 lost in 0 truncations", stderr);
        var stream = Assert.Single(TraceTestSupport.Streams(kept));
        Assert.Equal(1, stream.Segments);
        // The copies are joined by a TIP.PGE to the entry point (9 bytes: 0xd1 and the IP), see SimulatedTraceSource.
        int length = original.Bytes.Length, join = stream.Bytes[length] == 0xd1 ? 9 : 0;
        long input = (long)length * Repeat + (long)join * (Repeat - 1);
        Assert.InRange(stream.Bytes.Length - input, 0, 7);   // the last AUXTRACE is padded to 8 bytes with zeros
        for (int copy = 0; copy < Repeat; copy++)
        {
            int at = copy * (length + join);
            Assert.True(original.Bytes.AsSpan().SequenceEqual(stream.Bytes.AsSpan(at, length)), $"copy {copy} differs in the file");
            if (copy > 0) Assert.True(stream.Bytes.AsSpan(length, join).SequenceEqual(stream.Bytes.AsSpan(at - join, join)), $"join {copy} differs");
        }
        Assert.All(stream.Bytes.Skip((int)input), b => Assert.Equal(0, b));

        // The live output: the ranges left out, each ending at a PSB (or at the end), none overlapping.
        var skips = SkipLine.Matches(stdout).Select(m => (
            Bytes: long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
            From: long.Parse(m.Groups[3].Value, NumberStyles.HexNumber), To: long.Parse(m.Groups[4].Value, NumberStyles.HexNumber))).ToList();
        Assert.True(skips.Count > 0, "the decoder kept up: nothing was skipped (the test must overload it)");
        long previousEnd = 0;
        foreach (var s in skips)
        {
            Assert.Equal(s.To - s.From, s.Bytes);
            Assert.True(s.From >= previousEnd, $"skipped ranges overlap at 0x{s.From:x}");
            Assert.True(s.To == stream.Bytes.Length || PtSync.IsPsbAt(stream.Bytes, (int)s.To), $"a skip ends at 0x{s.To:x}, which is no PSB");
            previousEnd = s.To;
        }

        // Decoded plus skipped is the input, and the skips the output lists are all the summary counts.
        var summary = Regex.Match(stderr, @"([\d,]+) bytes of trace: ([\d,]+) decoded, ([\d,]+) skipped in (\d+) range\(s\) \(the file keeps them\)");
        Assert.True(summary.Success, stderr);
        long total = N(summary.Groups[1].Value), decoded = N(summary.Groups[2].Value), skipped = N(summary.Groups[3].Value);
        Assert.Equal(stream.Bytes.Length, total);
        Assert.Equal(total, decoded + skipped);
        Assert.Equal(skips.Sum(s => s.Bytes), skipped);
        Assert.Equal(skips.Count, int.Parse(summary.Groups[4].Value, CultureInfo.InvariantCulture));
        Assert.True(decoded > 0, "nothing was decoded");
        output.WriteLine($"{total} bytes: {decoded} decoded, {skipped} skipped in {skips.Count} ranges");

        static long N(string s) => long.Parse(s, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
    }
}
