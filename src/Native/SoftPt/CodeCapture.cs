using DotnetPtrace.Decoders.SoftPt;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// Keeps a process's captured code in step with its executable mappings: re-reads /proc/PID/maps, copies the bytes
/// of every executable mapping not captured yet out of the process (files, the vDSO and anonymous memory alike, so
/// the recording decodes without the files), emits an Mmap sideband event for each, and drops regions that were
/// unmapped (their bytes stay referenced by the events that announced them).
/// </summary>
internal static class CodeCapture
{
    /// <summary>
    /// Re-reads the maps of <paramref name="process"/>. Mappings whose maps line is unchanged keep their bytes, except
    /// those overlapping [<paramref name="forceStart"/>, <paramref name="forceEnd"/>): code there may have been
    /// rewritten in place (JIT code made executable again by mprotect, a MAP_FIXED mapping over the same range).
    /// </summary>
    public static void Rescan(TracedProcess process, int tid, long time, ExecutionRecording recording, ulong forceStart = 0, ulong forceEnd = 0)
    {
        string[] lines;
        // Through the thread that stopped: the main thread's own maps are empty once it has exited (pthread_exit).
        try { lines = File.ReadAllLines($"/proc/{process.Pid}/task/{tid}/maps"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { lines = File.ReadAllLines($"/proc/{process.Pid}/maps"); }
            catch (Exception e2) when (e2 is IOException or UnauthorizedAccessException) { return; }   // the process is exiting
        }

        var old = process.Captured;
        var now = new List<(MapsLine Map, CodeRegion Region)>(old.Count + 4);
        foreach (string line in lines)
        {
            if (!MapsLine.TryParse(line, out var map) || !map.Executable) continue;
            bool forced = map.Start < forceEnd && forceStart < map.End;
            int same = forced ? -1 : old.FindIndex(c => c.Map == map);
            if (same >= 0) { now.Add(old[same]); continue; }
            var bytes = process.Memory.TryRead(map.Start, map.End - map.Start);
            if (bytes is null) continue;   // [vsyscall]: the kernel's page, unreadable and not user code we can decode
            string path = map.Path.Length == 0 ? "//anon" : map.Path;
            var region = new CodeRegion { Start = map.Start, Bytes = bytes, Path = path, FileOffset = map.Inode == 0 ? 0 : map.Offset };
            now.Add((map, region));
            recording.Sideband.Add(new SidebandEvent
            {
                Kind = SidebandKind.Mmap, Time = time, Pid = process.Pid, Tid = tid,
                Address = map.Start, Length = map.End - map.Start, FileOffset = region.FileOffset,
                Prot = map.Prot, Flags = map.Flags, Major = map.Major, Minor = map.Minor, Inode = map.Inode,
                Path = path, Region = region, AddressSpaceId = process.Space.Id,
            });
        }
        now.Sort((a, b) => a.Map.Start.CompareTo(b.Map.Start));
        process.Captured = now;
        var regions = process.Space.Regions;
        regions.Clear();
        foreach (var c in now) regions.Add(c.Region);
        process.LastRegion = null;
    }
}
