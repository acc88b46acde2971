namespace DotnetPtrace.Decoders.Jit;

/// <summary>
/// One version of JIT code: [<see cref="Start"/>, <see cref="End"/>) holds method <see cref="Name"/>, there from
/// <see cref="LoadTime"/> until <see cref="EndTime"/> (a move away, or other code loaded over it;
/// <see cref="ulong.MaxValue"/>: never). <see cref="Bytes"/> is the code, or empty when the jitdump did not carry it
/// (then it only names the range). Times are the jitdump's.
/// </summary>
public sealed class JitCode(ulong start, ulong size, string name, byte[] bytes, ulong loadTime, ulong codeIndex)
{
    public ulong Start { get; } = start;
    public ulong Size { get; } = size;
    public ulong End => Start + Size;
    public string Name { get; } = name;
    public byte[] Bytes { get; } = bytes;
    public bool HasBytes => Bytes.Length > 0 && (ulong)Bytes.Length == Size;
    public ulong LoadTime { get; } = loadTime;
    public ulong CodeIndex { get; } = codeIndex;
    public ulong EndTime { get; internal set; } = ulong.MaxValue;

    public bool Contains(ulong address) => address - Start < Size;

    public override string ToString() => $"{Name} [{Start:x}, {End:x}) loaded {LoadTime}";
}

/// <summary>
/// The JIT code of one process over time, from its jitdump: every load (with its bytes), moves (the same bytes at a
/// new address; the old copy ends) and overwrites (a load over older code ends it). Answers "which method, which
/// bytes at this address at this time". Built once, then only read (thread-safe).
/// <para>
/// Times: the jitdump's clock. .NET writes CLOCK_MONOTONIC nanoseconds (perfjitdump.cpp GetTimeStampNS); `record
/// --dotnet-jit` stamps samples with the same clock (use_clockid, as perf record -k mono), but Intel PT time is
/// perf's own clock (the kernel's local_clock, within milliseconds of CLOCK_MONOTONIC on x86-64) and software PT
/// stamps with a step counter. So a time is a hint: <see cref="Find"/> prefers the code loaded last at or before it
/// and falls back to the earliest code loaded after it (a sample stamped just before its load record). .NET does not
/// reuse code addresses while a process runs (no code pitching; collectible assemblies aside), so in practice each
/// address has one version, and the decoder's images and the report simply take the version loaded last.
/// </para>
/// </summary>
public sealed class JitCodeHistory
{
    private readonly JitCode[] _byStart;
    // _maxEnd[i]: the highest end among _byStart[0..i]; a search going down from i stops where it is <= the address.
    private readonly ulong[] _maxEnd;

    public JitCodeHistory(int pid, IReadOnlyList<JitCode> code, JitDumpHeader? header = null, string? source = null, string? warning = null)
    {
        Pid = pid;
        Header = header;
        Source = source;
        Warning = warning;
        _byStart = [.. code.OrderBy(c => c.Start).ThenBy(c => c.LoadTime)];
        _maxEnd = new ulong[_byStart.Length];
        for (int i = 0; i < _byStart.Length; i++) _maxEnd[i] = Math.Max(i > 0 ? _maxEnd[i - 1] : 0, _byStart[i].End);
    }

    public int Pid { get; }
    public JitDumpHeader? Header { get; }
    /// <summary>The file it was read from, for messages.</summary>
    public string? Source { get; }
    /// <summary>Why the file was not read to its end (damage or truncation, with the offset), or null.</summary>
    public string? Warning { get; }
    /// <summary>Every code version, by start address.</summary>
    public IReadOnlyList<JitCode> Code => _byStart;

    /// <summary>Reads a jitdump; damage after the header keeps what came before it and is told in <see cref="Warning"/>.</summary>
    public static JitCodeHistory Load(string path)
    {
        using JitDumpReader reader = JitDumpReader.Open(path);
        List<JitRecord> records = reader.ReadAll(out JitDumpException? error);
        return FromRecords(reader.Header.Pid, records, reader.Header, path, error?.Message);
    }

    public static JitCodeHistory FromRecords(int pid, IEnumerable<JitRecord> records, JitDumpHeader? header = null, string? source = null, string? warning = null)
    {
        var all = new List<JitCode>();
        var byIndex = new Dictionary<ulong, JitCode>();
        // Live code by start, to end what a new load or move lands on (kept sorted by start).
        var live = new SortedList<ulong, JitCode>();
        void Place(JitCode c)
        {
            var starts = live.Keys;
            int lo = 0, hi = starts.Count;
            while (lo < hi) { int mid = (lo + hi) >>> 1; if (starts[mid] < c.Start) lo = mid + 1; else hi = mid; }
            // Earlier code reaching into [c.Start, c.End), then code starting inside it.
            if (lo > 0 && live.Values[lo - 1].End > c.Start) { live.Values[lo - 1].EndTime = c.LoadTime; live.RemoveAt(lo - 1); lo--; }
            while (lo < live.Count && live.Keys[lo] < c.End) { live.Values[lo].EndTime = c.LoadTime; live.RemoveAt(lo); }
            live[c.Start] = c;
            all.Add(c);
        }
        foreach (JitRecord r in records)
        {
            switch (r)
            {
                case JitCodeLoad load when load.CodeSize > 0 && load.CodeAddress + load.CodeSize > load.CodeAddress:
                {
                    var c = new JitCode(load.CodeAddress, load.CodeSize, load.Name, load.HasCode ? load.Code : [], load.Timestamp, load.CodeIndex);
                    byIndex[load.CodeIndex] = c;
                    Place(c);
                    break;
                }
                case JitCodeMove move when byIndex.TryGetValue(move.CodeIndex, out JitCode? old):
                {
                    if (live.TryGetValue(old.Start, out JitCode? there) && there == old) { old.EndTime = move.Timestamp; live.Remove(old.Start); }
                    var moved = new JitCode(move.NewCodeAddress, old.Size, old.Name, old.Bytes, move.Timestamp, move.CodeIndex);
                    byIndex[move.CodeIndex] = moved;
                    Place(moved);
                    break;
                }
            }
        }
        return new JitCodeHistory(pid, all, header, source, warning);
    }

    /// <summary>
    /// The code at <paramref name="address"/>: at time <paramref name="time"/> when given (see the class notes on
    /// clocks), else the version loaded last. Null when no JIT code ever covered the address.
    /// </summary>
    public JitCode? Find(ulong address, ulong? time = null)
    {
        int i = LastStartingAtOrBefore(address);
        JitCode? atTime = null, latest = null, earliestAfter = null;
        for (; i >= 0; i--)
        {
            if (_maxEnd[i] <= address) break;   // nothing at or below i reaches the address
            JitCode c = _byStart[i];
            if (!c.Contains(address)) continue;
            if (latest is null || c.LoadTime > latest.LoadTime) latest = c;
            if (time is ulong t)
            {
                if (c.LoadTime <= t && t < c.EndTime && (atTime is null || c.LoadTime > atTime.LoadTime)) atTime = c;
                if (c.LoadTime > t && (earliestAfter is null || c.LoadTime < earliestAfter.LoadTime)) earliestAfter = c;
            }
        }
        return time is null ? latest : atTime ?? earliestAfter ?? latest;
    }

    /// <summary>The code versions that lie entirely inside [<paramref name="start"/>, <paramref name="end"/>), by start.</summary>
    public IEnumerable<JitCode> Within(ulong start, ulong end)
    {
        int lo = 0, hi = _byStart.Length;
        while (lo < hi) { int mid = (lo + hi) >>> 1; if (_byStart[mid].Start < start) lo = mid + 1; else hi = mid; }
        for (int i = lo; i < _byStart.Length && _byStart[i].Start < end; i++)
            if (_byStart[i].End <= end) yield return _byStart[i];
    }

    private int LastStartingAtOrBefore(ulong address)
    {
        int lo = 0, hi = _byStart.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_byStart[mid].Start <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found;
    }
}
