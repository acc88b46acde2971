using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Decode;

/// <summary>
/// The binary a recording ran is gone, or another build sits at its path: decode reports it once, with the path and
/// the build-id the recording lists (read with binutils' readelf, not by us), turns its instructions into "no memory
/// mapped" errors, and decodes the rest (ld.so, libc) exactly as the ground truth has it.
/// </summary>
public sealed partial class DecodeImageTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-decode-image-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_missing_or_different_binary_is_reported_once_and_decoding_goes_on(bool replaced)
    {
        if (SoftPtRecordings.MissingPrerequisite() is { } missing) { log.WriteLine($"skipped: {missing}"); return; }
        string app = Path.Combine(_dir, "app");
        File.Copy(SoftPtRecordings.Binary("control_flow"), app);
        string data = Path.Combine(_dir, "app.data"), truthFile = Path.Combine(_dir, "app.gt");
        var rec = Tool.Run(["record", "--soft-pt", "--ground-truth", truthFile, "-o", data, "--", app], TimeSpan.FromSeconds(180));
        Assert.True(File.Exists(data) && File.Exists(truthFile), rec.ToString());
        string buildId = ReadElfBuildId(app);
        string withIds = Path.Combine(_dir, "app-buildid.data");
        CopyWithBuildId(data, withIds, app, Convert.FromHexString(buildId));

        string? other = null;
        if (replaced)
        {
            var gcc = ProcessRunner.Run("gcc", ["-O2", "-o", app, Path.Combine(IntelPt.PtTestSupport.RepoRoot, "samples", "softpt", "syscalls.c")], TimeSpan.FromSeconds(60));
            Assert.True(gcc.ExitCode == 0, gcc.ToString());
            other = ReadElfBuildId(app);
            Assert.NotEqual(buildId, other);
        }
        else File.Delete(app);

        var r = Tool.Run(["decode", "-i", withIds, "--format", "addresses", "--tid", TidOf(truthFile)]);
        Assert.True(r.ExitCode == 0, r.ToString());
        string reason = replaced ? $"build-id mismatch: {app} has {other}" : "not found";
        string[] err = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(err, l => l == $"decode: warning: missing image the trace needs: {app} (build-id {buildId}): {reason} (its instructions become \"no memory mapped\" errors; decoding resumes at the next PSB)");
        Assert.Single(err, l => l.StartsWith($"decode: missing image: {app} (build-id {buildId}): {reason}; the trace needed it ", StringComparison.Ordinal));

        // Errors where the program's own code ran; between them, stretches of the ground truth, in order.
        List<ulong> truth = SoftPtRecordings.ParseFlows(File.ReadAllText(truthFile)).Single().Addresses;
        var stretches = new List<List<ulong>> { new() };
        int errors = 0;
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('['))
            {
                Assert.Matches(NoMap(), line);
                errors++;
                stretches.Add([]);
                continue;
            }
            stretches[^1].Add(ulong.Parse(line, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        Assert.True(errors > 0, "no decode error although the program's code is missing");
        int at = 0, decoded = 0;
        foreach (List<ulong> s in stretches.Where(s => s.Count > 0))
        {
            int found = Find(truth, s, at);
            Assert.True(found >= 0, $"a decoded stretch of {s.Count} instructions from {s[0]:x} is not the ground truth's (after #{at})");
            at = found + s.Count;
            decoded += s.Count;
        }
        Assert.True(decoded > 1000, $"only {decoded} instructions decoded around the missing binary");
        log.WriteLine($"{(replaced ? "another build" : "no file")} at {app}: {errors} errors, {decoded} of {truth.Count} instructions decoded, all in ground-truth order");
    }

    private static string TidOf(string truthFile) => File.ReadLines(truthFile).First().Split(' ')[4];

    private static int Find(List<ulong> flow, List<ulong> piece, int from)
    {
        for (int i = from; i + piece.Count <= flow.Count; i++)
        {
            int k = 0;
            while (k < piece.Count && flow[i + k] == piece[k]) k++;
            if (k == piece.Count) return i;
        }
        return -1;
    }

    /// <summary>The GNU build-id as binutils reads it.</summary>
    private static string ReadElfBuildId(string path)
    {
        var r = ProcessRunner.Run("readelf", ["-n", path], TimeSpan.FromSeconds(30));
        Match m = BuildIdLine().Match(r.Stdout);
        Assert.True(m.Success, $"readelf -n {path} shows no build-id: {r}");
        return m.Groups[1].Value;
    }

    /// <summary>
    /// The same recording with a BUILD_ID feature naming <paramref name="binary"/>'s build-id, as perf record writes it
    /// (`record --soft-pt` lists none): every record and trace byte as it was, the features that matter kept.
    /// </summary>
    private static void CopyWithBuildId(string source, string destination, string binary, byte[] buildId)
    {
        byte[] bytes = File.ReadAllBytes(source);
        using var reader = PerfDataReader.Open(source);
        var attrs = reader.Attrs.Attrs.Select(a => new EventAttrEntry(a.Attr, a.Ids, a.Name)).ToList();
        using FileStream file = PerfDataWriter.CreateFile(destination);
        var writer = new PerfDataWriter(file, attrs);
        while (reader.TryRead(out PerfRecord r))
        {
            if (r.Type == PerfRecordType.Auxtrace) writer.WriteData(bytes.AsSpan((int)r.Offset, r.Bytes.Length + (int)r.AuxPayloadSize));
            else writer.WriteData(r.Bytes);
        }
        Assert.Null(reader.Error);
        string? cpuId = null;
        List<CapturedCode> captured = [];
        foreach (FeatureData f in reader.Features)
        {
            int o = 0;
            if (f.Feature == HeaderFeature.CpuId && FeatureParsing.TryReadString(f.Payload, ref o, out string s)) cpuId = s;
            if ((int)f.Feature == CapturedCode.FeatureBit) captured = CapturedCode.TryDecode(f.Payload, out _) ?? [];
        }
        writer.Finish(new PerfDataFeatures
        {
            CpuId = cpuId,
            CapturedCode = captured,
            BuildIds = [new BuildIdEntry(BuildIdEntry.HostPid, PerfRecordMisc.User, buildId, binary)],
        });
    }

    [GeneratedRegex(@"Build ID: ([0-9a-f]+)")]
    private static partial Regex BuildIdLine();

    [GeneratedRegex(@"^\[[0-9a-f]+, [0-9a-f]+: error: no memory mapped at this address\]$")]
    private static partial Regex NoMap();
}
