using System.Diagnostics;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Jit;

/// <summary>
/// samples/dotnet/HotLoop, built once per test run: the sources are copied to a temp directory (so nothing is written
/// into the checkout) and built there with `dotnet build -c Release`. The sample calls one [NoInlining] method,
/// HotLoop.Program::SumPrimes, in a loop, with tiered compilation off (one code version).
/// </summary>
public static class DotnetSample
{
    public const string HotMethod = "HotLoop.Program::SumPrimes";

    private static readonly Lazy<string> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The apphost of the built sample.</summary>
    public static string HotLoop => Built.Value;

    private static string Build()
    {
        string source = SourceDirectory();
        string work = Directory.CreateTempSubdirectory("dotnet-ptrace-hotloop-").FullName;
        foreach (string f in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(source, f);
            if (rel.StartsWith("bin", StringComparison.Ordinal) || rel.StartsWith("obj", StringComparison.Ordinal)) continue;
            string to = Path.Combine(work, "HotLoop", rel);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
        }
        // The samples' own Directory.Build.props / Directory.Packages.props keep the repository's settings out.
        foreach (string props in new[] { "Directory.Build.props", "Directory.Packages.props" })
            File.Copy(Path.Combine(source, "..", props), Path.Combine(work, props));
        string output = Path.Combine(work, "out");
        var r = ProcessRunner.Run("dotnet", ["build", Path.Combine(work, "HotLoop", "HotLoop.csproj"), "-c", "Release", "-o", output, "-nologo", "-v", "q"],
            TimeSpan.FromMinutes(3));
        if (r.ExitCode != 0) throw new InvalidOperationException($"building the HotLoop sample failed: {r}");
        return Path.Combine(output, "HotLoop");
    }

    private static string SourceDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "samples", "dotnet", "HotLoop");
            if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "dotnet-ptrace.sln"))) return candidate;
        }
        throw new InvalidOperationException($"samples/dotnet/HotLoop not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Starts the sample with extra environment; returns once it printed "ready PID" (SumPrimes compiled and run).</summary>
    public static Process StartReady(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(HotLoop) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        string? line = p.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("ready ", StringComparison.Ordinal))
        {
            p.Kill();
            throw new InvalidOperationException($"HotLoop did not get ready: '{line}' {p.StandardError.ReadToEnd()}");
        }
        return p;
    }

    /// <summary>Deletes the perf map and jitdump a .NET process left in /tmp.</summary>
    public static void DeleteJitFiles(int pid)
    {
        File.Delete($"/tmp/perf-{pid}.map");
        File.Delete($"/tmp/jit-{pid}.dump");
    }
}
