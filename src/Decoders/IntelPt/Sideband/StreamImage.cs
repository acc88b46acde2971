using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>
/// The <see cref="PtImage"/> one decoding stream reads code from, kept equal to the executable mappings of the
/// process it is in (and the kernel's). Each stream has its own: sections carry the decoded-block cache, which is not
/// thread-safe. Sections are made once per mapping and kept, so a process that comes back (a per-CPU stream switching
/// between threads) finds its blocks still decoded.
/// </summary>
public sealed class StreamImage(ImageSource source)
{
    private readonly Dictionary<(string Path, ulong Start, ulong End, ulong PgOff, int Pid), PtSection?> _sections = [];

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
        Add(process);
    }

    private void Add(MappingSet set)
    {
        foreach (CodeMapping m in set.Mappings)
        {
            if (!m.Exec) continue;
            var key = (m.Path, m.Start, m.End, m.PgOff, m.IsFile ? 0 : m.Pid);
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
}
