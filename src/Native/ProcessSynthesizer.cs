using System.Globalization;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Native;

/// <summary>
/// Describes processes that were already running when recording began, as the kernel would have described them
/// had we watched from their start: COMM for every thread, FORK for every thread but the leader, MMAP2 for every
/// executable mapping (from /proc/PID/maps, with the file's build-id when it has one). Without these an attached
/// or system-wide trace cannot be symbolised or decoded (perf does the same in perf_event__synthesize_threads).
/// </summary>
public sealed class ProcessSynthesizer(RecordBuilder builder, ulong sidebandId, Func<string, byte[]?> readBuildId, string procRoot = "/proc")
{
    /// <summary>Records for one process; an empty list when it has exited meanwhile (that race is normal).</summary>
    public List<byte[]> Synthesize(int pid)
    {
        var records = new List<byte[]>();
        string dir = Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        try
        {
            string comm = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n');
            foreach (int tid in ProcFs.Threads(pid, procRoot))
            {
                string threadComm = TryRead(Path.Combine(dir, "task", tid.ToString(CultureInfo.InvariantCulture), "comm"))?.TrimEnd('\n') ?? comm;
                var trailer = Trailer(pid, tid);
                if (tid != pid) records.Add(builder.Fork((uint)pid, (uint)pid, (uint)tid, (uint)pid, 0, trailer));
                records.Add(builder.Comm((uint)pid, (uint)tid, threadComm, exec: false, trailer));
            }
            foreach (string line in File.ReadLines(Path.Combine(dir, "maps")))
                if (MapsLine.TryParse(line, out var map) && map.Executable)
                    records.Add(Mmap2(pid, map));
        }
        catch (IOException) { return []; }          // exited while we read it
        catch (UnauthorizedAccessException) { return []; }
        return records;
    }

    /// <summary>
    /// The kernel's text as perf describes it: an MMAP "[kernel.kallsyms]_text" for pid -1 from _text to _etext
    /// (from /proc/kallsyms), so kernel samples resolve. Null when kallsyms hides addresses (kptr_restrict).
    /// </summary>
    public byte[]? KernelText()
    {
        ulong text = 0, etext = 0;
        try
        {
            foreach (string line in File.ReadLines(Path.Combine(procRoot, "kallsyms")))
            {
                // "ffffffff81000000 T _text"
                if (line.EndsWith(" _text", StringComparison.Ordinal)) text = ulong.Parse(line.AsSpan(0, line.IndexOf(' ')), NumberStyles.HexNumber);
                else if (line.EndsWith(" _etext", StringComparison.Ordinal)) etext = ulong.Parse(line.AsSpan(0, line.IndexOf(' ')), NumberStyles.HexNumber);
                if (text != 0 && etext != 0) break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
        if (text == 0 || etext <= text) return null;
        return builder.Mmap(uint.MaxValue, 0, text, etext - text, text, "[kernel.kallsyms]_text", PerfRecordMisc.Kernel,
            new SampleIdTrailer(uint.MaxValue, 0, 0, sidebandId, 0, 0));
    }

    /// <summary>Every pid in /proc, for system-wide recording.</summary>
    public IEnumerable<int> AllProcesses()
    {
        foreach (string d in Directory.EnumerateDirectories(procRoot))
            if (int.TryParse(Path.GetFileName(d), out int pid)) yield return pid;
    }

    private byte[] Mmap2(int pid, in MapsLine map)
    {
        byte[]? buildId = map.Path.StartsWith('/') ? readBuildId(map.Path) : null;
        // The vDSO and other [special] mappings keep their bracketed name, as perf expects.
        return builder.Mmap2((uint)pid, (uint)pid, map.Start, map.End - map.Start, map.Offset, map.Major, map.Minor, map.Inode,
            map.Prot, map.Flags, map.Path.Length == 0 ? "//anon" : map.Path, buildId, PerfRecordMisc.User, Trailer(pid, pid));
    }

    private SampleIdTrailer Trailer(int pid, int tid) => new((uint)pid, (uint)tid, 0, sidebandId, 0, 0);

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); } catch (IOException) { return null; } catch (UnauthorizedAccessException) { return null; }
    }
}

/// <summary>One line of /proc/PID/maps: "start-end perms offset maj:min inode   path".</summary>
public readonly record struct MapsLine(ulong Start, ulong End, string Perms, ulong Offset, uint Major, uint Minor, ulong Inode, string Path)
{
    public bool Executable => Perms.Length > 2 && Perms[2] == 'x';

    /// <summary>PROT_* bits (read 1, write 2, exec 4) as MMAP2 carries them.</summary>
    public uint Prot => (uint)((Perms[0] == 'r' ? 1 : 0) | (Perms[1] == 'w' ? 2 : 0) | (Perms[2] == 'x' ? 4 : 0));

    /// <summary>MAP_SHARED (1) or MAP_PRIVATE (2).</summary>
    public uint Flags => Perms.Length > 3 && Perms[3] == 's' ? 1u : 2u;

    public static bool TryParse(string line, out MapsLine result)
    {
        result = default;
        var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 5) return false;
        int dash = parts[0].IndexOf('-');
        int colon = parts[3].IndexOf(':');
        if (dash < 0 || colon < 0) return false;
        if (!ulong.TryParse(parts[0].AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start) ||
            !ulong.TryParse(parts[0].AsSpan(dash + 1), NumberStyles.HexNumber, null, out ulong end) ||
            !ulong.TryParse(parts[2], NumberStyles.HexNumber, null, out ulong offset) ||
            !uint.TryParse(parts[3].AsSpan(0, colon), NumberStyles.HexNumber, null, out uint major) ||
            !uint.TryParse(parts[3].AsSpan(colon + 1), NumberStyles.HexNumber, null, out uint minor) ||
            !ulong.TryParse(parts[4], out ulong inode))
            return false;
        string path = parts.Length > 5 ? parts[5].Trim() : "";
        result = new MapsLine(start, end, parts[1], offset, major, minor, inode, path);
        return true;
    }
}
