namespace DotnetPtrace.Native.Dotnet;

/// <summary>
/// What the .NET runtime reads to describe its JIT code for perf (dotnet/runtime PR#82142): DOTNET_PerfMapEnabled
/// 1 = both /tmp/perf-PID.map and /tmp/jit-PID.dump, 2 = the jitdump only, 3 = the perf map only, 0 = off. Both go
/// to /tmp (PR#88776: where perf looks). The jitdump holds the code bytes (what Intel PT decoding needs); the perf map
/// only names. The runtime also reads COMPlus_PerfMapEnabled, the pre-.NET 5 spelling, which we leave alone.
/// </summary>
public static class DotnetJitSettings
{
    public const string PerfMapEnabled = "DOTNET_PerfMapEnabled";

    /// <summary>
    /// Bit 1 (2): report each stub allocation on its own instead of whole 64 KiB stub blocks. Needed for a usable
    /// jitdump: a block is logged with its code bytes when it is set up, while parts of it are not readable yet, so
    /// the runtime's writev of it fails (EFAULT) and the runtime stops writing the jitdump right there (seen with
    /// .NET 10.0.12: every dump ended at its second record, 33 KB in, cut inside "stub ReportStubBlock&lt;Unknown&gt;").
    /// </summary>
    public const string PerfMapStubGranularity = "DOTNET_PerfMapStubGranularity";

    /// <summary>The variables a launched command gets with --dotnet-jit: both files, stubs one by one.</summary>
    public static IReadOnlyDictionary<string, string> LaunchEnvironment { get; } =
        new Dictionary<string, string> { [PerfMapEnabled] = "1", [PerfMapStubGranularity] = "2" };

    /// <summary>Where .NET writes the files of <paramref name="pid"/>.</summary>
    public static string PerfMapPath(int pid) => $"/tmp/perf-{pid}.map";
    public static string JitDumpPath(int pid) => $"/tmp/jit-{pid}.dump";
}
