using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.Jit;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>
/// The <see cref="PtImage"/> one decoding stream reads code from, kept equal to the executable mappings of the
/// process it is in (and the kernel's). Each stream has its own: sections carry the decoded-block cache, which is not
/// thread-safe. Sections are made once per mapping and kept, so a process that comes back (a per-CPU stream switching
/// between threads) finds its blocks still decoded.
/// <para>
/// JIT code from the process's jitdump (<see cref="ImageSource.Jit"/>) is laid over the mappings that hold it, in
/// three layers, later ones replacing what they overlap: the runtime's "stub" blocks (logged when a block is set up,
/// so their bytes may predate the stubs written into it: used only where nothing else has bytes), then the mappings'
/// own code (captured, or from files), then compiled methods (logged once compiled, the bytes that run: they take
/// precedence over captured anonymous memory, which a W^X runtime rewrites through another mapping unseen).
/// Each address gets the version loaded last (see <see cref="JitCodeHistory"/> on times).
/// </para>
/// </summary>
public sealed class StreamImage(ImageSource source)
{
    private readonly Dictionary<(string Path, ulong Start, ulong End, ulong PgOff, int Pid), PtSection?> _sections = [];
    private readonly Dictionary<(int Pid, ulong Start, ulong End), (PtSection[] Stubs, PtSection[] Methods)> _jit = [];

    public PtImage Image { get; } = new();
    public ImageSource Source => source;
    /// <summary>Times the image was rebuilt (a process switch, exec, mmap).</summary>
    public int Rebuilds { get; private set; }

    /// <summary>Makes the image hold the code of these mappings (and nothing else).</summary>
    public void Set(MappingSet process, MappingSet kernel)
    {
        Rebuilds++;
        foreach (string name in Image.Sections.Select(s => s.Name).Distinct().ToList()) Image.RemoveByName(name);
        Add(kernel);
        AddJit(process, stubs: true);
        Add(process);
        AddJit(process, stubs: false);
    }

    private void Add(MappingSet set)
    {
        foreach (CodeMapping m in set.Mappings)
        {
            if (!m.Exec) continue;
            var key = (m.Path, m.Start, m.End, m.PgOff, m.IsFile && !ImageSource.IsMemfd(m.Path) ? 0 : m.Pid);
            if (!_sections.TryGetValue(key, out PtSection? section))
            {
                section = source.TryGetCode(m, out MappedCode code) && code.Length > 0 && m.Start + (ulong)code.Length > m.Start
                    ? new PtSection(m.Path, m.Start, code.Data, code.Offset, code.Length)
                    : null;
                _sections[key] = section;
            }
            if (section is not null) Image.Add(section);
        }
    }

    private void AddJit(MappingSet set, bool stubs)
    {
        if (source.Jit is not { } jit) return;
        foreach (CodeMapping m in set.Mappings)
        {
            // JIT code lives in anonymous memory or a memfd, never in a mapped ELF file.
            if (!m.Exec || (m.IsFile && !ImageSource.IsMemfd(m.Path)) || m.Pid <= 0) continue;
            var key = (m.Pid, m.Start, m.End);
            if (!_jit.TryGetValue(key, out var layers))
            {
                layers = ([], []);
                if (jit.For(m.Pid) is { } history)
                {
                    var code = history.Within(m.Start, m.End).Where(c => c.HasBytes).OrderBy(c => c.LoadTime).ToList();
                    layers = ([.. code.Where(IsStub).Select(Section)], [.. code.Where(c => !IsStub(c)).Select(Section)]);
                    jit.NoteServed(code.Count);
                }
                _jit[key] = layers;
            }
            foreach (PtSection s in stubs ? layers.Stubs : layers.Methods) Image.Add(s);
        }
    }

    private static bool IsStub(JitCode c) => c.Name.StartsWith("stub ", StringComparison.Ordinal);

    private static PtSection Section(JitCode c) => new(c.Name, c.Start, c.Bytes, 0, c.Bytes.Length);
}
