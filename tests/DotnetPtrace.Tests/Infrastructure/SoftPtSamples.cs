using System.Collections.Concurrent;

namespace DotnetPtrace.Tests.Infrastructure;

/// <summary>How a software-PT sample is linked.</summary>
public enum SoftPtBuild
{
    /// <summary>gcc's default: a dynamically linked position-independent executable.</summary>
    Pie,
    NoPie,
    Static,
}

/// <summary>
/// The programs in samples/softpt, compiled on first use with gcc (-O0 -g, frame pointers): each C sample in three
/// builds (PIE, -no-pie, -static), each assembly sample (*.S) with -nostdlib -static -no-pie so its instructions are
/// exactly the ones in its source. Read from the checkout (the test project does not copy them).
/// </summary>
public static class SoftPtSamples
{
    private static readonly Lazy<string> Output = new(() => Directory.CreateTempSubdirectory("dotnet-ptrace-softpt-").FullName);
    private static readonly ConcurrentDictionary<string, Lazy<string>> Built = new();

    public static string SourceDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string candidate = System.IO.Path.Combine(dir.FullName, "samples", "softpt");
                if (Directory.Exists(candidate) && File.Exists(System.IO.Path.Combine(dir.FullName, "dotnet-ptrace.sln"))) return candidate;
            }
            throw new InvalidOperationException($"samples/softpt not found above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>The binary of C sample <paramref name="name"/> (samples/softpt/NAME.c) in the given build.</summary>
    public static string Path(string name, SoftPtBuild build = SoftPtBuild.Pie)
    {
        string suffix = build switch { SoftPtBuild.Pie => "", SoftPtBuild.NoPie => "-nopie", _ => "-static" };
        string[] flags = build switch { SoftPtBuild.Pie => [], SoftPtBuild.NoPie => ["-no-pie"], _ => ["-static"] };
        return Build(name + suffix, System.IO.Path.Combine(SourceDirectory, name + ".c"),
            ["-O0", "-g", "-fno-omit-frame-pointer", "-pthread", .. flags]);
    }

    /// <summary>An assembly sample (samples/softpt/NAME.S) linked with no C library: it starts at its own _start.</summary>
    public static string NoStdlib(string name) =>
        Build(name, System.IO.Path.Combine(SourceDirectory, name + ".S"), ["-nostdlib", "-static", "-no-pie"]);

    private static string Build(string outputName, string source, string[] flags) =>
        Built.GetOrAdd(outputName, _ => new Lazy<string>(() =>
        {
            string output = System.IO.Path.Combine(Output.Value, outputName);
            var r = ProcessRunner.Run("gcc", [.. flags, "-o", output, source], TimeSpan.FromSeconds(120));
            if (r.ExitCode != 0)
                throw new InvalidOperationException($"gcc failed for {source} (install gcc; .ci/run does): {r.Stderr}");
            return output;
        }, LazyThreadSafetyMode.ExecutionAndPublication)).Value;
}
