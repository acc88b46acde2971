using System.Diagnostics;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

/// <summary>
/// The installed Linux perf is the reference for the event syntax: record a trivial command with the same -e text,
/// read the attr back with `perf evlist -v`, and compare the fields the parser is responsible for.
/// </summary>
public partial class PerfOracleTests
{
    [Theory]
    [InlineData("cpu-clock")]
    [InlineData("cpu-clock:u")]
    [InlineData("cs:k")]
    [InlineData("faults")]
    [InlineData("migrations:uk")]
    [InlineData("cpu-clock:ukp")]
    [InlineData("cpu-clock:hp")]
    [InlineData("task-clock:kpp")]
    [InlineData("sched:sched_switch")]
    public void Attr_matches_what_perf_builds_from_the_same_text(string text)
    {
        var perf = PerfAttr(text);
        var ours = new EventParser(new PmuCatalog(), new Tracefs()).Parse(text).Attr;

        Assert.Equal(perf.Type, ours.Type);
        Assert.Equal(perf.Config, ours.Config);
        Assert.Equal(perf.ExcludeUser, ours.Has(AttrFlags.ExcludeUser));
        Assert.Equal(perf.ExcludeKernel, ours.Has(AttrFlags.ExcludeKernel));
        Assert.Equal(perf.ExcludeHv, ours.Has(AttrFlags.ExcludeHv));
        Assert.Equal(perf.PreciseIp, ours.PreciseIp);
    }

    private sealed record ReferenceAttr(uint Type, ulong Config, bool ExcludeUser, bool ExcludeKernel, bool ExcludeHv, int PreciseIp);

    private static ReferenceAttr PerfAttr(string eventText)
    {
        string dir = Directory.CreateTempSubdirectory("ptrace-perf-oracle-").FullName;
        try
        {
            string data = Path.Combine(dir, "perf.data");
            Run("perf", "record", "-q", "-e", eventText, "-o", data, "--", "true");
            // The first line is the event asked for; perf may add its own dummy event after it.
            string line = Run("perf", "evlist", "-v", "-i", data).Split('\n')[0];

            return new ReferenceAttr(
                uint.Parse(TypeField().Match(line).Groups[1].Value),
                ConfigField().Match(line) is { Success: true } config ? Convert.ToUInt64(config.Groups[1].Value, 16) : 0,
                line.Contains("exclude_user: 1"),
                line.Contains("exclude_kernel: 1"),
                line.Contains("exclude_hv: 1"),
                PreciseField().Match(line) is { Success: true } precise ? int.Parse(precise.Groups[1].Value) : 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}: {stderr}");
        return stdout;
    }

    [GeneratedRegex(@"\btype: (\d+)")]
    private static partial Regex TypeField();

    [GeneratedRegex(@"\bconfig: 0x([0-9a-f]+)")]
    private static partial Regex ConfigField();

    [GeneratedRegex(@"\bprecise_ip: (\d)")]
    private static partial Regex PreciseField();
}
