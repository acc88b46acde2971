using System.Collections.Concurrent;
using DotnetPtrace.Decoders.Elf;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>
/// Names code addresses by the mapping they are in: the mapped ELF file's symbols (an address there is
/// <c>ip - start + pgoff</c> in the file, turned into the address its symbols use by its PT_LOAD segments), and the
/// vDSO's own symbols from the same bytes the image uses, and JIT code by the method names of its jitdump (else its
/// perf map). Files are parsed once and shared (thread-safe); a miss is cached too, so a stripped or missing binary
/// costs one look.
/// </summary>
public sealed class MappingSymbols(ImageSource images, string? root = null)
{
    private readonly ConcurrentDictionary<string, Lazy<ElfSymbols?>> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Path, int Pid, ulong Start), Lazy<ElfSymbols?>> _unbacked = new();

    /// <summary>The function holding <paramref name="ip"/> in mapping <paramref name="m"/>, and the offset into it.</summary>
    public bool TryFind(CodeMapping m, ulong ip, out string name, out ulong offset)
    {
        name = "";
        offset = 0;
        // JIT code (anonymous memory or a memfd): the method its jitdump names, else its perf map.
        if (JitCodeAt(m, ip) is { } jit)
        {
            name = jit.Name;
            offset = ip - jit.Start;
            return true;
        }
        if (IsJitMemory(m) && images.Jit!.PerfMapFor(m.Pid) is { } map && map.TryFind(ip, out name, out offset)) return true;
        ElfSymbols? elf = SymbolsOf(m);
        if (elf is null) return false;
        ulong fileOffset = ip - m.Start + m.PgOff;
        return elf.FileOffsetToAddress(fileOffset) is ulong address && elf.TryFind(address, out name, out offset);
    }

    /// <summary>The function holding <paramref name="ip"/> in mapping <paramref name="m"/>: its name and its range [start, end) in the process.</summary>
    public bool TryFindFunction(CodeMapping m, ulong ip, out string name, out ulong start, out ulong end)
    {
        name = "";
        start = end = 0;
        if (JitCodeAt(m, ip) is { } jit)
        {
            (name, start, end) = (jit.Name, jit.Start, jit.End);
            return true;
        }
        ElfSymbols? elf = SymbolsOf(m);
        if (elf is null || elf.FileOffsetToAddress(ip - m.Start + m.PgOff) is not ulong address
            || !elf.TryFind(address, out name, out ulong offset, out ulong size)) return false;
        start = ip - offset;
        end = size > ulong.MaxValue - start ? ulong.MaxValue : start + size;
        return true;
    }

    private bool IsJitMemory(CodeMapping m) => (!m.IsFile || ImageSource.IsMemfd(m.Path)) && images.Jit is not null;

    private Jit.JitCode? JitCodeAt(CodeMapping m, ulong ip) => IsJitMemory(m) ? images.Jit!.For(m.Pid)?.Find(ip) : null;

    private ElfSymbols? SymbolsOf(CodeMapping m)
    {
        // Asked for every line of some formats: a known file or image costs a lookup (no key string, no closure).
        if (m.IsFile) return _files.TryGetValue(m.Path, out Lazy<ElfSymbols?>? known) ? known.Value : LoadFile(m.Path);
        return _unbacked.TryGetValue((m.Path, m.Pid, m.Start), out Lazy<ElfSymbols?>? parsed) ? parsed.Value : ParseUnbacked(m);
    }

    private ElfSymbols? LoadFile(string path) =>
        _files.GetOrAdd(path, p => new Lazy<ElfSymbols?>(() => ElfSymbols.TryLoad(root is null ? p : Path.Join(root, p)))).Value;

    /// <summary>[vdso] and captured code: the bytes the image has, parsed as ELF (the vDSO is one; anonymous code is not).</summary>
    private ElfSymbols? ParseUnbacked(CodeMapping m) =>
        _unbacked.GetOrAdd((m.Path, m.Pid, m.Start), _ => new Lazy<ElfSymbols?>(() =>
        {
            CodeMapping whole = m with { PgOff = 0 };
            return images.TryGetCode(whole, out MappedCode code) && code.Offset == 0
                ? ElfSymbols.TryParse(code.Data.AsSpan(0, code.Data.Length))
                : null;
        })).Value;
}
