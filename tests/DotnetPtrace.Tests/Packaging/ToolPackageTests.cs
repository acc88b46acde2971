using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Packaging;

/// <summary>
/// `dotnet pack` makes a .NET tool that `dotnet tool install` accepts and that runs: the README's install path, end to
/// end. The installed tool's report of a recording must equal the in-tree build's.
/// </summary>
[Collection(PackagingCollection.Name)]
public class ToolPackageTests(PackagingBuild build, ITestOutputHelper log)
{
    [Fact]
    public void Packed_tool_installs_and_runs()
    {
        var pack = build.Package.AssertSucceeded();
        log.WriteLine($"{pack.Command}: {pack.Log.Elapsed.TotalSeconds:F0} s");
        string nupkg = Assert.Single(Directory.GetFiles(pack.Directory, "dotnet-ptrace.*.nupkg"));
        // NuGet names a package file ID.VERSION.nupkg.
        string version = Path.GetFileNameWithoutExtension(nupkg)["dotnet-ptrace.".Length..];
        Assert.Empty(pack.WarningLines);

        // Only the package just made: a config with no other source, and a package cache of its own (a cached
        // dotnet-ptrace of the same version from an earlier run would otherwise be installed instead).
        string config = Path.Combine(build.Root, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{pack.Directory}" />
              </packageSources>
            </configuration>
            """);
        string tools = Path.Combine(build.Root, "tools");
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(build.Root, "nuget-packages") };
        var install = PackagingBuild.Run("dotnet", ["tool", "install", "dotnet-ptrace", "--tool-path", tools, "--configfile", config], TimeSpan.FromMinutes(3), build.Root, env);
        Assert.True(install.ExitCode == 0, install.ToString());

        string tool = Path.Combine(tools, "dotnet-ptrace");
        var versionRun = PackagingBuild.Run(tool, ["--version"], TimeSpan.FromMinutes(1));
        Assert.True(versionRun.ExitCode == 0, versionRun.ToString());
        Assert.StartsWith(version, versionRun.Stdout.Trim());   // 0.1.0+COMMIT
        var help = PackagingBuild.Run(tool, ["--help"], TimeSpan.FromMinutes(1));
        Assert.True(help.ExitCode == 0, help.ToString());
        foreach (string command in new[] { "record", "report", "script", "dump", "decode" }) Assert.Contains(command, help.Stdout);

        // A recording made by the in-tree build, reported by both.
        string data = Path.Combine(build.Root, "tool-cpu_bound.data");
        var rec = Tool.Run(["record", "-e", "cpu-clock", "-o", data, "--", SampleBinaries.CpuBound, "200"]);
        Assert.True(rec.ExitCode == 0, rec.ToString());
        var installed = PackagingBuild.Run(tool, ["report", "-i", data], TimeSpan.FromMinutes(1));
        var inTree = Tool.Run(["report", "-i", data]);
        Assert.True(installed.ExitCode == 0, installed.ToString());
        Assert.Contains("cpu_bound", installed.Stdout);
        Assert.Equal(inTree.Stdout, installed.Stdout);
    }
}
