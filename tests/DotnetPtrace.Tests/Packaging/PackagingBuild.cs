using System.Diagnostics;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Packaging;

/// <summary>
/// The packaging tests run alone (no other test in parallel): `dotnet pack` and a Native AOT publish take a minute or
/// two of both cores each, and would starve the timing-sensitive recording tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingCollection : ICollectionFixture<PackagingBuild>
{
    public const string Name = "Packaging (pack and Native AOT publish)";
}

/// <summary>
/// What users build from the checkout, built once per test run as the README says, into a temporary directory of its
/// own (--artifacts-path: nothing collides with the test run's own bin/obj): the tool package (`dotnet pack`) and the
/// Native AOT binary (`dotnet publish -r linux-x64 -p:PublishAot=true`). Each is built on first use, once.
/// </summary>
public sealed class PackagingBuild : IDisposable
{
    private readonly Lazy<BuildOutput> _package;
    private readonly Lazy<BuildOutput> _native;

    public PackagingBuild()
    {
        Root = Directory.CreateTempSubdirectory("dotnet-ptrace-packaging-").FullName;
        _package = new(() => Dotnet(["pack", Project, "-c", "Release", "-o", Path.Combine(Root, "nupkg"), .. Common]), LazyThreadSafetyMode.ExecutionAndPublication);
        _native = new(() => Dotnet(["publish", Project, "-r", "linux-x64", "-c", "Release", "-p:PublishAot=true", "-o", Path.Combine(Root, "aot"), .. Common]),
            LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>A temporary directory for everything these tests make; deleted at the end.</summary>
    public string Root { get; }

    /// <summary>`dotnet pack src/Cli`: the .nupkg is in <see cref="BuildOutput.Directory"/>.</summary>
    public BuildOutput Package => _package.Value;

    /// <summary>`dotnet publish src/Cli -r linux-x64 -c Release -p:PublishAot=true`.</summary>
    public BuildOutput Native => _native.Value;

    public string NativeBinary => Path.Combine(Native.Directory, "dotnet-ptrace");

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "dotnet-ptrace.sln"))) return dir.FullName;
            throw new InvalidOperationException($"dotnet-ptrace.sln not found above {AppContext.BaseDirectory}");
        }
    }

    private static string Project => Path.Combine(RepoRoot, "src", "Cli", "DotnetPtrace.Cli.csproj");

    /// <summary>
    /// Shared obj/bin for both builds (they run one after the other: the libraries are compiled once); no build servers,
    /// which would outlive the test and hold its output pipes open.
    /// </summary>
    private string[] Common => ["--artifacts-path", Path.Combine(Root, "artifacts"), "--disable-build-servers"];

    private BuildOutput Dotnet(string[] args)
    {
        var r = Run("dotnet", args, TimeSpan.FromMinutes(8), RepoRoot);
        string output = Path.Combine(Root, args[0] == "pack" ? "nupkg" : "aot");
        return new BuildOutput(output, r, $"dotnet {string.Join(' ', args)}");
    }

    /// <summary>
    /// Runs a program with the test's environment minus what `dotnet test` sets for its own MSBuild (MSBUILD*, which
    /// would point a nested build at the wrong SDK parts), and with <paramref name="environment"/> added.
    /// </summary>
    public static ProcessResult Run(string file, IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}");
        }
        p.WaitForExit();
        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result, sw.Elapsed);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A build's output directory and what the build printed.</summary>
public sealed record BuildOutput(string Directory, ProcessResult Log, string Command)
{
    /// <summary>Fails the test with the build's output when the build failed.</summary>
    public BuildOutput AssertSucceeded()
    {
        Assert.True(Log.ExitCode == 0, $"{Command} failed:\n{Log}");
        return this;
    }

    /// <summary>The lines of the build's output that report a warning (MSBuild's "warning CODE:" form, any tool).</summary>
    public IReadOnlyList<string> WarningLines =>
        (Log.Stdout + "\n" + Log.Stderr).Split('\n')
            .Where(l => l.Contains("warning", StringComparison.OrdinalIgnoreCase) && l.Trim() != "0 Warning(s)").ToList();
}
