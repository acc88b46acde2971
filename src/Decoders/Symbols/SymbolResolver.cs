using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Decoders.Jit;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Decoders.Symbols;

/// <summary>
/// A resolved address: the function (null if unknown) and offset into it, the DSO name, and the address as the DSO
/// sees it (ip - map start + pgoff for a mapped file; the ip itself for the kernel, JIT maps and unmapped code).
/// </summary>
public readonly record struct ResolvedSymbol(string? Name, ulong Offset, string Dso, ulong DsoAddress = 0);

/// <summary>
/// Follows a recording's processes (COMM, FORK, MMAP, MMAP2) and turns sample addresses into symbols the way
/// perf does: user addresses through the process's mappings and the mapped ELF's symbols (pgoff makes PIE and
/// shared objects work), JIT code through /tmp/perf-PID.map (else the jitdump: the one the recording saw mapped, or
/// /tmp/jit-PID.dump), kernel addresses through /proc/kallsyms. A binary that is not on this machine degrades to
/// [unknown] with the DSO name; nothing here fails a read.
/// </summary>
public sealed class SymbolResolver
{
    public const string Unknown = "[unknown]";
    public const string KernelDso = "[kernel.kallsyms]";

    private readonly Dictionary<int, ProcessMaps> _processes = [];
    private readonly Dictionary<int, string> _comms = [];
    private readonly Dictionary<string, ElfSymbols?> _elfCache = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddressSymbolTable?> _perfMaps = [];
    private readonly Lazy<AddressSymbolTable?> _kallsyms;
    private readonly string _perfMapDirectory;
    private readonly Lazy<ElfSymbols?> _vdso;
    private readonly Dictionary<int, int> _mapGenerations = [];
    private readonly Func<string, string?>? _demangle;
    private readonly Dictionary<string, string> _demangled = new(StringComparer.Ordinal);
    private readonly JitCodeSource _jitDumps;

    /// <param name="vdsoImage">The vDSO's ELF bytes for [vdso] samples (this kernel's, read by the caller, since this
    /// layer makes no system calls); null leaves them [unknown].</param>
    /// <param name="demangle">Turns a mangled C++ name into what perf prints (null: leave names as the ELF has them).
    /// Applied to ELF symbols only, as perf does (JIT maps and the kernel are not demangled).</param>
    public SymbolResolver(string perfMapDirectory = "/tmp", string kallsymsPath = "/proc/kallsyms", Func<byte[]?>? vdsoImage = null,
        Func<string, string?>? demangle = null)
    {
        _demangle = demangle;
        _perfMapDirectory = perfMapDirectory;
        _jitDumps = new JitCodeSource(perfMapDirectory);
        _kallsyms = new(() => AddressSymbolTable.TryLoadKallsyms(kallsymsPath));
        _vdso = new(() => vdsoImage?.Invoke() is { } image ? ElfSymbols.TryParse(image) : null);
    }

    /// <summary>Feeds a sideband record (others are ignored).</summary>
    public void Observe(in PerfRecord r)
    {
        ReadOnlySpan<byte> b = r.Bytes;
        switch (r.Type)
        {
            case PerfRecordType.Comm when b.Length >= 17:
                _comms[I32(b, 12)] = CString(b[16..]);
                break;
            case PerfRecordType.Fork when b.Length >= 24:
            {
                int pid = I32(b, 8), ppid = I32(b, 12), tid = I32(b, 16), ptid = I32(b, 20);
                if (_comms.TryGetValue(ptid, out string? comm)) _comms[tid] = comm;
                if (pid != ppid && _processes.TryGetValue(ppid, out ProcessMaps? parent)) _processes[pid] = parent.Clone();
                if (pid != ppid) BumpGeneration(pid);
                break;
            }
            case PerfRecordType.Mmap when b.Length >= 41:
                AddMap(I32(b, 8), U64(b, 16), U64(b, 24), U64(b, 32), CString(b[40..]));
                break;
            case PerfRecordType.Mmap2 when b.Length >= 73:
                AddMap(I32(b, 8), U64(b, 16), U64(b, 24), U64(b, 32), CString(b[72..]));
                break;
        }
    }

    /// <summary>The comm of a thread, or ":TID" like perf when no COMM was seen.</summary>
    /// <summary>
    /// The thread's command name. Unknown threads are named as perf names them: tid 0 is the idle task "swapper",
    /// others ":TID" (kept, so a busy unknown thread costs one string, not one per sample).
    /// </summary>
    public string Comm(int tid)
    {
        if (_comms.TryGetValue(tid, out string? c)) return c;
        c = tid == 0 ? "swapper" : ":" + tid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _comms[tid] = c;
        return c;
    }

    public ResolvedSymbol Resolve(int pid, ulong ip, bool kernel)
    {
        if (kernel) return ResolveKernel(ip);
        if (_processes.TryGetValue(pid, out ProcessMaps? maps) && maps.Find(ip) is { } map)
        {
            if (IsJit(map.Name) && PerfMap(pid) is { } jit)
            {
                // perf makes the map file the DSO of the whole anonymous mapping, named or not.
                string dso = $"/tmp/perf-{pid}.map";
                if (jit.TryFind(ip, out string jname, out ulong joff)) return new ResolvedSymbol(jname, joff, dso, ip);
                return JitDumpName(pid, ip) is { } fromDump ? fromDump with { Dso = dso } : new ResolvedSymbol(null, 0, dso, ip);
            }
            // No perf map (DOTNET_PerfMapEnabled=2 writes only the jitdump): the jitdump names the code.
            if (IsJit(map.Name) && JitDumpName(pid, ip) is { } dumped) return dumped;
            ulong fileOffset = ip - map.Start + map.PgOff;
            if (Elf(map.Name) is { } elf && elf.FileOffsetToAddress(fileOffset) is { } addr && elf.TryFind(addr, out string name, out ulong off))
                return new ResolvedSymbol(Demangled(name), off, map.Name, fileOffset);
            return new ResolvedSymbol(null, 0, map.Name, fileOffset);
        }
        if (PerfMap(pid) is { } table && table.TryFind(ip, out string n2, out ulong o2))
            return new ResolvedSymbol(n2, o2, $"/tmp/perf-{pid}.map", ip);
        // perf attributes unmapped high addresses to the kernel, even in user-mode samples of old files.
        if (ip >= 0xffff_8000_0000_0000) return ResolveKernel(ip);
        return new ResolvedSymbol(null, 0, Unknown, ip);
    }

    private string Demangled(string name)
    {
        if (_demangle is null || !name.StartsWith("_Z", StringComparison.Ordinal)) return name;
        if (!_demangled.TryGetValue(name, out string? d)) _demangled[name] = d = _demangle(name) ?? name;
        return d;
    }

    private ResolvedSymbol ResolveKernel(ulong ip) =>
        _kallsyms.Value is { } k && k.TryFind(ip, out string name, out ulong off)
            ? new ResolvedSymbol(name, off, KernelDso, ip)
            : new ResolvedSymbol(null, 0, KernelDso, ip);

    private static bool IsJit(string name) => name.StartsWith("//anon", StringComparison.Ordinal) || name.StartsWith("[anon", StringComparison.Ordinal)
        || name.StartsWith("/memfd:", StringComparison.Ordinal) || name.StartsWith("/tmp/perf-", StringComparison.Ordinal);

    /// <summary>
    /// A number that changes whenever <paramref name="pid"/>'s mappings change, so callers may cache what an address
    /// resolved to and know when the answer could differ.
    /// </summary>
    public int MapGeneration(int pid) => _mapGenerations.GetValueOrDefault(pid);

    private void BumpGeneration(int pid) => _mapGenerations[pid] = _mapGenerations.GetValueOrDefault(pid) + 1;

    private void AddMap(int pid, ulong start, ulong len, ulong pgoff, string name)
    {
        _jitDumps.NoteMapping(pid, name);
        BumpGeneration(pid);
        if (!_processes.TryGetValue(pid, out ProcessMaps? maps)) _processes[pid] = maps = new ProcessMaps();
        maps.Add(new Mapping(start, start + len, pgoff, name));
    }

    private ElfSymbols? Elf(string path)
    {
        if (path == "[vdso]") return _vdso.Value;
        if (path.Length == 0 || path[0] != '/') return null;
        if (!_elfCache.TryGetValue(path, out ElfSymbols? elf)) _elfCache[path] = elf = LoadWithDebugFile(path);
        return elf;
    }

    /// <summary>
    /// A stripped file's full symbols live in a separate debug file: found by build-id under
    /// /usr/lib/debug/.build-id/xx/rest.debug, else by .gnu_debuglink next to the file, in .debug/, or under
    /// /usr/lib/debug (gdb's search order). Its segments stay the original's.
    /// </summary>
    private static ElfSymbols? LoadWithDebugFile(string path)
    {
        ElfSymbols? elf = ElfSymbols.TryLoad(path);
        if (elf is null || elf.HasSymtab) return elf;
        var candidates = new List<string>();
        if (ElfBuildId.TryRead(path) is { Length: > 1 } id)
        {
            string hex = Convert.ToHexStringLower(id);
            candidates.Add($"/usr/lib/debug/.build-id/{hex[..2]}/{hex[2..]}.debug");
        }
        if (elf.DebugLink is { Length: > 0 } link && Path.GetDirectoryName(path) is { } dir)
        {
            candidates.Add(Path.Combine(dir, link));
            candidates.Add(Path.Combine(dir, ".debug", link));
            candidates.Add("/usr/lib/debug" + Path.Combine(dir, link));
        }
        foreach (string candidate in candidates)
        {
            if (candidate == path) continue;
            if (ElfSymbols.TryLoad(candidate) is { HasSymtab: true } debug) return elf.WithSymbolsOf(debug);
        }
        return elf;
    }

    /// <summary>The method the process's jitdump places at <paramref name="ip"/> (the version loaded last), its DSO the dump.</summary>
    private ResolvedSymbol? JitDumpName(int pid, ulong ip) =>
        _jitDumps.For(pid) is { } history && history.Find(ip) is { } code
            ? new ResolvedSymbol(code.Name, ip - code.Start, history.Source ?? $"jit-{pid}.dump", ip)
            : null;

    private AddressSymbolTable? PerfMap(int pid)
    {
        if (!_perfMaps.TryGetValue(pid, out AddressSymbolTable? t))
            _perfMaps[pid] = t = AddressSymbolTable.TryLoadPerfMap(Path.Combine(_perfMapDirectory, $"perf-{pid}.map"));
        return t;
    }

    private static string CString(ReadOnlySpan<byte> b)
    {
        int nul = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? b[..nul] : b);
    }

    private static int I32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);

    private sealed record Mapping(ulong Start, ulong End, ulong PgOff, string Name);

    /// <summary>One process's mappings, sorted; a new mapping replaces whatever it overlaps, as mmap does.</summary>
    private sealed class ProcessMaps
    {
        private readonly List<Mapping> _maps = [];

        public ProcessMaps Clone()
        {
            var c = new ProcessMaps();
            c._maps.AddRange(_maps);
            return c;
        }

        public void Add(Mapping m)
        {
            _maps.RemoveAll(x => x.Start < m.End && m.Start < x.End);
            int i = _maps.FindIndex(x => x.Start > m.Start);
            _maps.Insert(i < 0 ? _maps.Count : i, m);
        }

        public Mapping? Find(ulong ip)
        {
            int lo = 0, hi = _maps.Count - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (_maps[mid].Start <= ip) lo = mid + 1; else hi = mid - 1;
            }
            return hi >= 0 && ip < _maps[hi].End ? _maps[hi] : null;
        }
    }
}
