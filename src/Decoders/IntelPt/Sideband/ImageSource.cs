using System.Collections.Concurrent;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Decoders.Jit;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>Why a mapping's code is not available: the file and the build-id the recording expected.</summary>
public sealed record ImageProblem(string Path, string? BuildId, string Reason)
{
    public override string ToString() => $"{Path}{(BuildId is null ? "" : $" (build-id {BuildId})")}: {Reason}";
}

/// <summary>Bytes of code for a mapping: <see cref="Length"/> bytes of <see cref="Data"/> from <see cref="Offset"/>.</summary>
public readonly record struct MappedCode(byte[] Data, int Offset, int Length);

/// <summary>
/// Where the code of a mapping comes from: the ELF file at the mapping's path (its bytes from pgoff, the way the
/// kernel maps them, after checking its build-id against the one the recording saw), code captured into the
/// recording by `record --soft-pt` ([vdso], anonymous memory), or this machine's vDSO. Files are read once and
/// shared by every stream (the bytes never change); a file that is missing or is another build is a problem,
/// noted once per path. Thread-safe.
/// </summary>
public sealed class ImageSource
{
    private const long MaxFileBytes = 1L << 30;

    private readonly IReadOnlyDictionary<string, byte[]> _buildIds;
    private readonly IReadOnlyList<CapturedCode> _captured;
    private readonly byte[]? _ownVdso;
    private readonly string? _root;
    private readonly ConcurrentDictionary<string, Lazy<FileImage>> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ProblemState> _problems = new(StringComparer.Ordinal);

    /// <param name="buildIds">The build-ids the recording lists (BUILD_ID feature), by path.</param>
    /// <param name="captured">Code the recording carries (our feature bit 200).</param>
    /// <param name="ownVdso">This machine's vDSO, for [vdso] mappings without captured code (null: none).</param>
    /// <param name="root">A directory the recorded paths are looked up under (perf's --symfs), or null.</param>
    public ImageSource(IReadOnlyDictionary<string, byte[]>? buildIds = null, IReadOnlyList<CapturedCode>? captured = null, byte[]? ownVdso = null, string? root = null)
    {
        _buildIds = buildIds ?? new Dictionary<string, byte[]>();
        _captured = captured ?? [];
        _ownVdso = ownVdso;
        _root = root;
    }

    /// <summary>
    /// JIT code from jitdumps (jit-PID.dump), laid over the mappings that hold it: its bytes take precedence over
    /// captured ones (see <see cref="StreamImage"/>). Null: none.
    /// </summary>
    public JitCodeSource? Jit { get; init; }

    /// <summary>Every problem met while building images, with how often decoding ran into it.</summary>
    public IReadOnlyList<(ImageProblem Problem, long Hits)> Problems =>
        [.. _problems.Values.OrderBy(p => p.Order).Select(p => (p.Problem, Interlocked.Read(ref p.Hits)))];

    /// <summary>The problem of a mapping's code, if it has one (after <see cref="TryGetCode"/> was asked).</summary>
    public ImageProblem? ProblemOf(CodeMapping m) => _problems.TryGetValue(Key(m), out ProblemState? p) ? p.Problem : null;

    /// <summary>Notes that decoding needed the code of <paramref name="m"/>; true the first time for its problem.</summary>
    public bool NoteNeeded(CodeMapping m) =>
        _problems.TryGetValue(Key(m), out ProblemState? p) && Interlocked.Increment(ref p.Hits) == 1;

    /// <summary>The code of an executable mapping; false (and a noted problem) when there is none.</summary>
    public bool TryGetCode(CodeMapping m, out MappedCode code)
    {
        code = default;
        // A memfd (.NET's W^X double mapping of its code heap) is named like a file but no file holds it.
        if (!m.IsFile || IsMemfd(m.Path)) return TryGetUnbacked(m, out code);
        FileImage file = _files.GetOrAdd(m.Path, p => new Lazy<FileImage>(() => Load(p))).Value;
        string? expected = ExpectedBuildId(m);
        if (file.Data is null) return Problem(m, expected, file.Error!);
        if (expected is not null && file.BuildId is not null && !SameBuildId(expected, file.BuildId))
            return Problem(m, expected, $"build-id mismatch: {Resolve(m.Path)} has {file.BuildId}");
        if (m.PgOff >= (ulong)file.Data.Length)
            return Problem(m, expected, $"mapped from file offset 0x{m.PgOff:x}, past the end of the file ({file.Data.Length} bytes)");
        code = new MappedCode(file.Data, (int)m.PgOff, (int)Math.Min(m.Length, (ulong)file.Data.Length - m.PgOff));
        return true;
    }

    private bool TryGetUnbacked(CodeMapping m, out MappedCode code)
    {
        code = default;
        CapturedCode? best = null;
        foreach (CapturedCode c in _captured)
        {
            if (!Covers(c, m.Start)) continue;
            // The process's own capture first; a forked child's mapping is its parent's bytes.
            if (c.Pid == m.Pid) { best = c; break; }
            if (best is null && c.Name == m.Path) best = c;
        }
        if (best is not null)
        {
            int off = (int)(m.Start - best.Address);
            code = new MappedCode(best.Bytes, off, (int)Math.Min(m.Length, (ulong)(best.Bytes.Length - off)));
            return true;
        }
        if (m.Path == "[vdso]" && _ownVdso is { Length: > 0 } vdso && m.PgOff < (ulong)vdso.Length)
        {
            code = new MappedCode(vdso, (int)m.PgOff, (int)Math.Min(m.Length, (ulong)vdso.Length - m.PgOff));
            return true;
        }
        string reason = m.Path == "[vdso]" ? "no captured vDSO in the recording and none given"
            : m.Path.StartsWith(KernelName, StringComparison.Ordinal) ? "kernel code: no image of it is available to the decoder"
            : "no file holds this code and the recording has no copy of it";
        return Problem(m, ExpectedBuildId(m), reason);
    }

    private const string KernelName = "[kernel.kallsyms]";

    /// <summary>"/memfd:NAME (deleted)": memory with a name, not a file on disk.</summary>
    public static bool IsMemfd(string path) => path.StartsWith("/memfd:", StringComparison.Ordinal);

    private static bool Covers(CapturedCode c, ulong address) => address - c.Address < (ulong)c.Bytes.Length;

    private string? ExpectedBuildId(CodeMapping m)
    {
        if (m.BuildId is { Length: > 0 } id) return Convert.ToHexStringLower(id);
        // The kernel's text is mapped as "[kernel.kallsyms]_text" (or _stext) and listed as "[kernel.kallsyms]".
        string path = m.Path.StartsWith(KernelName, StringComparison.Ordinal) ? KernelName : m.Path;
        return _buildIds.TryGetValue(path, out byte[]? b) ? Convert.ToHexStringLower(b) : null;
    }

    /// <summary>perf stores 20 bytes, zero-padded when the id is shorter: compare the id's own length.</summary>
    private static bool SameBuildId(string expected, string actual) =>
        expected.StartsWith(actual, StringComparison.Ordinal) && expected.AsSpan(actual.Length).IndexOfAnyExcept('0') < 0;

    private bool Problem(CodeMapping m, string? buildId, string reason)
    {
        _problems.TryAdd(Key(m), new ProblemState(new ImageProblem(m.Path, buildId, reason), _problems.Count));
        return false;
    }

    private static string Key(CodeMapping m) => m.IsFile && !IsMemfd(m.Path) ? m.Path : $"{m.Path}@{m.Pid}:{m.Start:x}";

    private string Resolve(string path) => _root is null ? path : System.IO.Path.Join(_root, path);

    private FileImage Load(string path)
    {
        string file = Resolve(path);
        try
        {
            var info = new FileInfo(file);
            if (!info.Exists) return new FileImage(null, null, $"not found{(_root is null ? "" : $" (looked for {file})")}");
            if (info.Length > MaxFileBytes) return new FileImage(null, null, $"{info.Length} bytes is too large to load");
            byte[] data = File.ReadAllBytes(file);
            byte[]? id = ElfBuildId.TryRead(data);
            return new FileImage(data, id is null ? null : Convert.ToHexStringLower(id), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new FileImage(null, null, e.Message);
        }
    }

    private sealed record FileImage(byte[]? Data, string? BuildId, string? Error);

    private sealed class ProblemState(ImageProblem problem, int order)
    {
        public readonly ImageProblem Problem = problem;
        public readonly int Order = order;
        public long Hits;
    }
}
