using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One BPF program perf saw: its id (bpf_prog_info.id) and how many bytes of info and arrays were kept.</summary>
public readonly record struct BpfProgramEntry(uint Id, uint InfoLength, uint DataLength);

/// <summary>
/// BPF_PROG_INFO: u32 count, then per program {u32 info_len, u32 data_len, u64 arrays, bpf_prog_info (info_len
/// bytes), data (data_len bytes)}. perf prints each program's jitted symbols, which needs BTF decoding; we print
/// counts and sizes (lines of our own).
/// </summary>
public sealed record BpfPrograms(IReadOnlyList<BpfProgramEntry> Programs)
{
    public const string OwnLinePrefix = "# bpf_prog_info summary";

    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out BpfPrograms? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var programs = new List<BpfProgramEntry>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.U32(out uint infoLength) || !c.U32(out uint dataLength) || !c.U64(out _)
                    || !c.Bytes(infoLength, out ReadOnlySpan<byte> info) || !c.Bytes(dataLength, out _)) break;
                uint id = info.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(info[4..]) : 0;   // struct bpf_prog_info: type, id
                programs.Add(new BpfProgramEntry(id, infoLength, dataLength));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new BpfPrograms(programs);
        return true;
    }

    /// <summary>Nothing for an empty list (as perf); otherwise one line per program.</summary>
    public void Print(StringBuilder sb)
    {
        foreach (BpfProgramEntry p in Programs)
            sb.Append(CultureInfo.InvariantCulture, $"{OwnLinePrefix}: id {p.Id}, {p.InfoLength} bytes of info, {p.DataLength} bytes of arrays\n");
    }
}
