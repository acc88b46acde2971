namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// The optional header features written after the data section: facts about the machine and the recording that
/// perf report prints with <c>--header</c>. A null (or empty) value leaves its feature out of the file. The event
/// descriptions (EVENT_DESC) are not here: the writer derives them from its attrs.
/// </summary>
public sealed class PerfDataFeatures
{
    /// <summary>The string perf would show as "perf version"; ours names the tool that wrote the file.</summary>
    public const string ToolVersion = "dotnet-ptrace 0.1.0";

    /// <summary>uname nodename.</summary>
    public string? Hostname { get; init; }
    /// <summary>uname release.</summary>
    public string? OsRelease { get; init; }
    public string? Version { get; init; } = ToolVersion;
    /// <summary>uname machine, e.g. "x86_64".</summary>
    public string? Arch { get; init; }
    /// <summary>sysconf(_SC_NPROCESSORS_ONLN). Written only together with <see cref="NrCpusAvailable"/>.</summary>
    public uint? NrCpusOnline { get; init; }
    /// <summary>Highest present CPU number + 1 (perf's cpu__max_present_cpu).</summary>
    public uint? NrCpusAvailable { get; init; }
    /// <summary>The "model name" line of /proc/cpuinfo, runs of spaces squashed.</summary>
    public string? CpuDesc { get; init; }
    /// <summary>perf's cpuid string, e.g. "GenuineIntel,6,85,4"; perf's Intel PT decoder keys errata on it.</summary>
    public string? CpuId { get; init; }
    /// <summary>MemTotal of /proc/meminfo, in kB.</summary>
    public ulong? TotalMemKb { get; init; }
    /// <summary>The command line of the recording, argv[0] first (perf writes its own path there).</summary>
    public string[]? Cmdline { get; init; }
    /// <summary>TRACING_DATA: tracepoint formats (see <see cref="TracingDataEncoder"/>); required with tracepoint events.</summary>
    public byte[]? TracingData { get; init; }
    /// <summary>Build-ids of the binaries that samples hit; see <see cref="BuildIdCollector"/>.</summary>
    public IReadOnlyList<BuildIdEntry> BuildIds { get; init; } = [];
    /// <summary>Code no file holds, kept for later decoding (our own feature; see <see cref="CapturedCode"/>).</summary>
    public IReadOnlyList<CapturedCode> CapturedCode { get; init; } = [];
}

/// <summary>
/// One entry of the BUILD_ID feature. <paramref name="Pid"/> is the machine (-1 = HOST_KERNEL_ID, the host, for
/// every DSO on this machine, guests aside); <paramref name="CpuMode"/> is PerfRecordMisc.Kernel for the kernel and
/// its modules, PerfRecordMisc.User otherwise; <paramref name="BuildId"/> is at most 20 bytes.
/// </summary>
public sealed record BuildIdEntry(int Pid, ushort CpuMode, byte[] BuildId, string Filename)
{
    /// <summary>HOST_KERNEL_ID: the pid perf writes for the host machine.</summary>
    public const int HostPid = -1;
    /// <summary>BUILD_ID_SIZE: the room for a build-id in perf's record (a SHA-1).</summary>
    public const int MaxBuildIdSize = 20;
}
