using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Decoders.Jit;

/// <summary>
/// Finds and loads the jitdump of each process of a recording, once, on first need (thread-safe). Where a dump is
/// looked for, as perf inject -j does and then some: the path of a mapped "jit-PID.dump" the recording saw (the JIT
/// mmaps its dump with PROT_EXEC precisely so that perf records an MMAP naming it), else DIRECTORY/jit-PID.dump
/// (/tmp: .NET always writes there). A missing dump is no error (most processes have none); a damaged one is used
/// up to the damage and its message kept in <see cref="Warnings"/>.
/// </summary>
public sealed partial class JitCodeSource
{
    private readonly ConcurrentDictionary<int, Lazy<JitCodeHistory?>> _histories = new();
    private readonly ConcurrentDictionary<int, Lazy<Symbols.AddressSymbolTable?>> _perfMaps = new();
    private readonly ConcurrentDictionary<int, string> _mappedPaths = new();
    private readonly ConcurrentQueue<string> _warnings = new();
    private readonly string? _directory;
    private long _sectionsServed;

    /// <param name="directory">Where to look for jit-PID.dump when the recording mapped none (null: only mapped ones).</param>
    public JitCodeSource(string? directory = "/tmp")
    {
        _directory = directory;
    }

    /// <summary>Problems met reading dumps (each with its path and offset).</summary>
    public IReadOnlyCollection<string> Warnings => _warnings;

    /// <summary>Histories loaded so far (for a summary of what served the decode).</summary>
    public IEnumerable<JitCodeHistory> Loaded =>
        _histories.Values.Where(l => l.IsValueCreated).Select(l => l.Value).OfType<JitCodeHistory>().OrderBy(h => h.Pid);

    /// <summary>JIT code pieces handed to decoders' images.</summary>
    public long SectionsServed => Interlocked.Read(ref _sectionsServed);

    internal void NoteServed(int count) => Interlocked.Add(ref _sectionsServed, count);

    /// <summary>True when <paramref name="path"/> names a jitdump ("jit-PID.dump"); its pid in <paramref name="pid"/>.</summary>
    public static bool IsJitDumpPath(string path, out int pid)
    {
        pid = 0;
        Match m = JitDumpName().Match(path);
        return m.Success && int.TryParse(m.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out pid);
    }

    /// <summary>A source for the processes of a recording: every jitdump its sideband saw mapped, then /tmp.</summary>
    public static JitCodeSource ForRecording(SidebandModel model, string? directory = "/tmp")
    {
        var source = new JitCodeSource(directory);
        foreach (AddressSpaceHistory h in model.Processes.Values)
            foreach (AddressSpaceChange c in h.Changes)
                if (c.Mapping is { } m) source.NoteMapping(h.Pid, m.Path);
        return source;
    }

    /// <summary>A mapping of <paramref name="path"/> was seen in process <paramref name="pid"/>: if it is a jitdump, use it for that process.</summary>
    public void NoteMapping(int pid, string path)
    {
        if (pid > 0 && IsJitDumpPath(path, out _)) _mappedPaths.TryAdd(pid, path);
    }

    /// <summary>The JIT code history of <paramref name="pid"/>, or null when it has no readable jitdump.</summary>
    public JitCodeHistory? For(int pid) =>
        pid <= 0 ? null : _histories.GetOrAdd(pid, p => new Lazy<JitCodeHistory?>(() => Load(p))).Value;

    /// <summary>
    /// The perf map DIRECTORY/perf-PID.map of <paramref name="pid"/> (names only, no code), for processes whose runtime
    /// wrote no jitdump (DOTNET_PerfMapEnabled=3, or another JIT); null when there is none.
    /// </summary>
    public Symbols.AddressSymbolTable? PerfMapFor(int pid) =>
        pid <= 0 || _directory is null ? null
            : _perfMaps.GetOrAdd(pid, p => new Lazy<Symbols.AddressSymbolTable?>(() =>
                Symbols.AddressSymbolTable.TryLoadPerfMap(Path.Combine(_directory, $"perf-{p.ToString(CultureInfo.InvariantCulture)}.map")))).Value;

    private JitCodeHistory? Load(int pid)
    {
        string? path = _mappedPaths.TryGetValue(pid, out string? mapped) && File.Exists(mapped) ? mapped
            : _directory is not null ? Path.Combine(_directory, $"jit-{pid.ToString(CultureInfo.InvariantCulture)}.dump") : null;
        if (path is null || !File.Exists(path)) return null;
        try
        {
            JitCodeHistory h = JitCodeHistory.Load(path);
            if (h.Warning is { } w) _warnings.Enqueue($"{w} (the code loads before it are used)");
            if (h.Header is { } header && header.Pid != pid)
                _warnings.Enqueue($"{path}: written by pid {header.Pid}, used for pid {pid} as the recording maps it there");
            return h;
        }
        catch (JitDumpException e) { _warnings.Enqueue(e.Message); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _warnings.Enqueue($"{path}: {e.Message}"); }
        return null;
    }

    [GeneratedRegex(@"(?:^|/)jit-(\d+)\.dump$")]
    private static partial Regex JitDumpName();
}
