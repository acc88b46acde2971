using System.Globalization;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using DotnetPtrace.Tests.SoftPtEncoder;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.SoftPtRecord;

/// <summary>
/// Issue 5's proof, end to end through the CLI: `record --soft-pt --ground-truth` on each sample program, then Linux
/// perf's own Intel PT decoder (`perf script --itrace=i0ns -F tid,ip`) must list exactly the single-stepped
/// addresses of every thread, in order, and `--itrace=e` must report no decode error.
/// </summary>
[Collection("live recording")]
public sealed class SoftPtRecordPerfTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-e2e-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string, string> Samples => new()
    {
        // name, build, arguments (space separated); static builds skip ~80k instructions of dynamic loading.
        { "control_flow", "static", "" },
        { "control_flow", "pie", "" },
        { "control_flow", "nopie", "" },
        { "signals", "static", "" },
        { "signals", "static", "die" },
        { "threads", "static", "" },
        { "syscalls", "static", "50" },
        { "vdso", "static", "" },
        // jit (code in anonymous memory) is not here: perf has no bytes for anonymous code without a jitdump; our
        // decoder reads the copy `record --soft-pt` keeps in the file (the decode tests cover it).
        { "fork_exec", "static", "loop" },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Perf_decodes_every_thread_to_its_ground_truth(string name, string build, string arguments)
    {
        string program = SoftPtSamples.Path(name, build switch { "pie" => SoftPtBuild.Pie, "nopie" => SoftPtBuild.NoPie, _ => SoftPtBuild.Static });
        string[] args = arguments.Length == 0 ? [] : arguments.Split(' ');
        if (name == "fork_exec") args = [SoftPtSamples.NoStdlib(args[0])];
        string data = Path.Combine(_dir, $"{name}.data"), truth = Path.Combine(_dir, $"{name}.gt");
        var rec = Tool.Run(["record", "--soft-pt", "-o", data, "--ground-truth", truth, "--", program, .. args], TimeSpan.FromMinutes(3));
        output.WriteLine(rec.Stderr);
        // Traced, the command ends as it does on its own.
        var native = ProcessRunner.Run(program, args, TimeSpan.FromMinutes(1));
        int expectedExit = native.ExitCode < 0 ? 128 - native.ExitCode : native.ExitCode;
        Assert.True(rec.ExitCode == expectedExit, $"native exit {native.ExitCode}; traced: {rec}");
        Assert.Contains("software Intel PT", rec.Stderr);

        var threads = GroundTruthReader.Read(truth).Where(t => t.Addresses.Length > 0).ToList();
        Assert.NotEmpty(threads);
        var perf = Perf.Run("script", "-i", data, "--itrace=i0ns", "-F", "tid,ip");
        Perf.AssertClean(perf, allowLost: false);
        var decoded = new Dictionary<int, List<ulong>>();
        foreach (string line in perf.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int tid = int.Parse(f[0], CultureInfo.InvariantCulture);
            if (!decoded.TryGetValue(tid, out var list)) decoded[tid] = list = [];
            list.Add(ulong.Parse(f[1], NumberStyles.HexNumber));
        }
        // A tid can hold several logs (exec from a thread); perf lists them one after the other.
        foreach (var group in threads.GroupBy(t => t.Tid))
        {
            ulong[] expected = group.SelectMany(t => t.Addresses).ToArray();
            SoftPtTestSupport.AssertSameAddresses(expected, decoded.GetValueOrDefault(group.Key) ?? [], $"{name} ({build}) tid {group.Key}");
        }
        Assert.Equal(threads.Select(t => t.Tid).Distinct().Order(), decoded.Keys.Order());
        var errors = Perf.Run("script", "-i", data, "--itrace=e");
        Perf.AssertClean(errors, allowLost: false);
        Assert.Equal("", errors.Stdout.Trim());
        output.WriteLine($"{name} ({build}): {threads.Count} threads, {threads.Sum(t => t.Addresses.Length)} instructions, {new FileInfo(data).Length} bytes of perf.data");
    }
}
