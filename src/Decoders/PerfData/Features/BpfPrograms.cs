using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One JIT-ed function of a BPF program: its tag, address and length.</summary>
public readonly record struct BpfSubprogram(ulong Tag, ulong Address, uint Length, uint FuncTypeId);

/// <summary>
/// One BPF program perf saw while recording. <see cref="Subprograms"/> is null when its counts of symbols, tags
/// and lengths disagree (perf prints nothing for such a program).
/// </summary>
public sealed record BpfProgram(uint Id, string Name, uint BtfId, IReadOnlyList<BpfSubprogram>? Subprograms);

/// <summary>
/// BPF_PROG_INFO: u32 count, then per program {u32 info_len, u32 data_len, u64 arrays, struct bpf_prog_info
/// (info_len bytes, zero-extended), data (data_len bytes)}. The info's array fields hold offsets into data, as
/// perf's bpil_addr_to_offs leaves them. Field offsets are those of the kernel's uapi struct bpf_prog_info.
/// </summary>
public sealed record BpfPrograms(IReadOnlyList<BpfProgram> Programs)
{
    private const int InfoSize = 232;

    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out BpfPrograms? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var programs = new List<BpfProgram>();
        Span<byte> info = stackalloc byte[InfoSize];
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                int start = c.Position;
                if (!c.U32(out uint infoLength) || !c.U32(out uint dataLength) || !c.U64(out _)
                    || !c.Bytes(infoLength, out ReadOnlySpan<byte> rawInfo) || !c.Bytes(dataLength, out ReadOnlySpan<byte> data)) break;
                info.Clear();
                rawInfo[..Math.Min(rawInfo.Length, InfoSize)].CopyTo(info);
                if (!TryProgram(info, data, out BpfProgram? program))
                {
                    problem = new FeatureProblem(start, $"BPF program {U32(info, 4)} points outside its {dataLength} bytes of arrays");
                    return false;
                }
                programs.Add(program);
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new BpfPrograms(programs);
        return true;
    }

    private static bool TryProgram(ReadOnlySpan<byte> info, ReadOnlySpan<byte> data, [NotNullWhen(true)] out BpfProgram? program)
    {
        uint id = U32(info, 4), btfId = U32(info, 128);
        string name = FeatureCursor.CString(info.Slice(64, 16));
        uint subprograms = U32(info, 104), lengths = U32(info, 108), tags = U32(info, 180);
        program = new BpfProgram(id, name, btfId, null);
        if (subprograms != tags || subprograms != lengths) return true;
        ulong ksyms = U64(info, 112), lens = U64(info, 120), tagArray = U64(info, 184);
        ulong funcInfo = U64(info, 136);
        uint funcInfoCount = U32(info, 144), funcRecord = U32(info, 132);
        var list = new List<BpfSubprogram>();
        for (uint i = 0; i < subprograms; i++)
        {
            if (!Read(data, ksyms + 8UL * i, 8, out ulong address) || !Read(data, lens + 4UL * i, 4, out ulong length)
                || !Read(data, tagArray + 8UL * i, 8, out ulong tag)) return false;
            ulong typeId = 0;
            if (i < funcInfoCount && funcRecord >= 8) Read(data, funcInfo + (ulong)funcRecord * i + 4, 4, out typeId);
            list.Add(new BpfSubprogram(tag, address, (uint)length, (uint)typeId));
        }
        program = program with { Subprograms = list };
        return true;
    }

    private static bool Read(ReadOnlySpan<byte> data, ulong offset, int size, out ulong value)
    {
        value = 0;
        if (offset > (ulong)data.Length || (ulong)data.Length - offset < (ulong)size) return false;
        value = size == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(data[(int)offset..]) : BinaryPrimitives.ReadUInt32LittleEndian(data[(int)offset..]);
        return true;
    }

    /// <summary>
    /// __bpf_event__print_bpf_prog_info for each program in id order (a repeated id is dropped, as perf's tree
    /// does): "bpf_prog_TAG_NAME", NAME from the program's BTF when the BPF_BTF feature has it, else the program
    /// name (single function) or "F".
    /// </summary>
    public void Print(StringBuilder sb, BpfBtf? btf)
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (BpfProgram p in Programs.DistinctBy(p => p.Id).OrderBy(p => p.Id))
        {
            if (p.Subprograms is not { } subs) continue;
            BtfTypeNames? types = p.BtfId != 0 && btf?.Find(p.BtfId) is { } blob ? BtfTypeNames.Parse(blob.Data) : null;
            if (subs.Count == 1)
            {
                sb.Append(inv, $"# bpf_prog_info {p.Id}: {SymbolName(p, subs, 0, types)} addr 0x{subs[0].Address:x} size {subs[0].Length}\n");
                continue;
            }
            sb.Append(inv, $"# bpf_prog_info {p.Id}:\n");
            for (int i = 0; i < subs.Count; i++)
                sb.Append(inv, $"# \tsub_prog {i}: {SymbolName(p, subs, i, types)} addr 0x{subs[i].Address:x} size {subs[i].Length}\n");
        }
    }

    /// <summary>synthesize_bpf_prog_name.</summary>
    private static string SymbolName(BpfProgram p, IReadOnlyList<BpfSubprogram> subs, int i, BtfTypeNames? types)
    {
        ulong tag = subs[i].Tag;
        Span<byte> tagBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(tagBytes, tag);
        string name = "bpf_prog_" + Convert.ToHexStringLower(tagBytes);
        string? shortName = types is not null ? types.NameOf(subs[i].FuncTypeId) ?? "" : subs.Count == 1 ? (p.Name.Length > 0 ? p.Name : null) : "F";
        return shortName is null ? name : name + "_" + shortName;
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
