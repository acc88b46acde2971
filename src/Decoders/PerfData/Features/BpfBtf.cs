using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One BTF blob (type information of BPF programs): its id and bytes.</summary>
public sealed record BtfEntry(uint Id, byte[] Data);

/// <summary>BPF_BTF: u32 count, then per blob {u32 id, u32 data_size, data}.</summary>
public sealed record BpfBtf(IReadOnlyList<BtfEntry> Entries)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out BpfBtf? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var entries = new List<BtfEntry>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.U32(out uint id) || !c.U32(out uint size) || !c.Bytes(size, out ReadOnlySpan<byte> data)) break;
                entries.Add(new BtfEntry(id, data.ToArray()));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new BpfBtf(entries);
        return true;
    }

    /// <summary>perf keeps the blobs in a tree by id, the first of a repeated id winning.</summary>
    public BtfEntry? Find(uint id) => Entries.FirstOrDefault(e => e.Id == id);

    /// <summary>"# btf info of id N" in id order.</summary>
    public void Print(StringBuilder sb)
    {
        foreach (uint id in Entries.Select(e => e.Id).Distinct().Order())
            sb.Append(CultureInfo.InvariantCulture, $"# btf info of id {id}\n");
    }
}
