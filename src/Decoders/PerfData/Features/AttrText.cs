using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>
/// A perf_event_attr as perf 6.1's perf_event_attr__fprintf prints it: ", name = value" for every non-zero field in
/// struct order, bit masks as names joined by '|'. perf copies at most its own sizeof(attr) (128 bytes) and leaves
/// the rest zero, so fields past a short attr read as 0 and fields past 128 bytes (config3) are never shown.
/// </summary>
public static class AttrText
{
    private const int Perf61AttrSize = 128;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // Bit names in perf's print order (which is not bit order: TRANSACTION is not printed at all).
    private static readonly (ulong Bit, string Name)[] SampleTypeBits =
    [
        (1UL << 0, "IP"), (1UL << 1, "TID"), (1UL << 2, "TIME"), (1UL << 3, "ADDR"), (1UL << 4, "READ"),
        (1UL << 5, "CALLCHAIN"), (1UL << 6, "ID"), (1UL << 7, "CPU"), (1UL << 8, "PERIOD"), (1UL << 9, "STREAM_ID"),
        (1UL << 10, "RAW"), (1UL << 11, "BRANCH_STACK"), (1UL << 12, "REGS_USER"), (1UL << 13, "STACK_USER"),
        (1UL << 16, "IDENTIFIER"), (1UL << 18, "REGS_INTR"), (1UL << 15, "DATA_SRC"), (1UL << 14, "WEIGHT"),
        (1UL << 19, "PHYS_ADDR"), (1UL << 20, "AUX"), (1UL << 21, "CGROUP"), (1UL << 22, "DATA_PAGE_SIZE"),
        (1UL << 23, "CODE_PAGE_SIZE"), (1UL << 24, "WEIGHT_STRUCT"),
    ];

    private static readonly (ulong Bit, string Name)[] BranchSampleBits = InBitOrder(
    [
        "USER", "KERNEL", "HV", "ANY", "ANY_CALL", "ANY_RETURN", "IND_CALL", "ABORT_TX", "IN_TX", "NO_TX", "COND",
        "CALL_STACK", "IND_JUMP", "CALL", "NO_FLAGS", "NO_CYCLES", "TYPE_SAVE", "HW_INDEX", "PRIV_SAVE",
    ]);

    private static readonly (ulong Bit, string Name)[] ReadFormatBits = InBitOrder(["TOTAL_TIME_ENABLED", "TOTAL_TIME_RUNNING", "ID", "GROUP", "LOST"]);

    // The one-bit flags at offset 40, in bit order; precise_ip (bits 15-16) is printed in its place as a number.
    private static readonly string[] FlagNames =
    [
        "disabled", "inherit", "pinned", "exclusive", "exclude_user", "exclude_kernel", "exclude_hv", "exclude_idle",
        "mmap", "comm", "freq", "inherit_stat", "enable_on_exec", "task", "watermark", "precise_ip", "",
        "mmap_data", "sample_id_all", "exclude_host", "exclude_guest", "exclude_callchain_kernel",
        "exclude_callchain_user", "mmap2", "comm_exec", "use_clockid", "context_switch", "write_backward",
        "namespaces", "ksymbol", "bpf_event", "aux_output", "cgroup", "text_poke", "build_id", "inherit_thread",
        "remove_on_exec", "sigtrap",
    ];

    /// <summary>The attr's own size field (offset 4), 0 when the bytes are too short to hold it.</summary>
    public static uint SizeField(ReadOnlySpan<byte> attr) => attr.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(attr[4..]) : 0;

    /// <summary>perf_attr_check of perf 6.1: no reserved bits, and no sample_type/read_format/branch bits newer than it.</summary>
    public static bool PassesPerf61Check(ReadOnlySpan<byte> attrBytes)
    {
        Span<byte> a = stackalloc byte[Perf61AttrSize];
        Load(attrBytes, a);
        ulong flags = U64(a, 40), sampleType = U64(a, 24), readFormat = U64(a, 32), branch = U64(a, 72);
        if ((flags >> 38) != 0 || U16(a, 110) != 0 || U32(a, 116) != 0) return false;
        if ((sampleType & ~((1UL << 25) - 1)) != 0) return false;           // PERF_SAMPLE_MAX = 1 << 25
        if ((readFormat & ~((1UL << 5) - 1)) != 0) return false;            // PERF_FORMAT_MAX = 1 << 5
        if ((sampleType & (1UL << 11)) != 0 && (branch & ~((1UL << 19) - 1)) != 0) return false;   // PERF_SAMPLE_BRANCH_MAX
        return true;
    }

    /// <summary>Appends ", name = value" for every non-zero field, in perf's order.</summary>
    public static void Append(StringBuilder sb, ReadOnlySpan<byte> attrBytes)
    {
        Span<byte> a = stackalloc byte[Perf61AttrSize];
        Load(attrBytes, a);
        Unsigned(sb, "type", U32(a, 0));
        Unsigned(sb, "size", U32(a, 4));
        Hex(sb, "config", U64(a, 8));
        Unsigned(sb, "{ sample_period, sample_freq }", U64(a, 16));
        Bits(sb, "sample_type", U64(a, 24), SampleTypeBits);
        Bits(sb, "read_format", U64(a, 32), ReadFormatBits);
        ulong flags = U64(a, 40);
        for (int bit = 0; bit < FlagNames.Length; bit++)
        {
            if (bit == 16) continue;   // the high bit of precise_ip
            ulong v = bit == 15 ? flags >> 15 & 3 : flags >> bit & 1;
            Unsigned(sb, FlagNames[bit], v);
        }
        Unsigned(sb, "{ wakeup_events, wakeup_watermark }", U32(a, 48));
        Unsigned(sb, "bp_type", U32(a, 52));
        Hex(sb, "{ bp_addr, config1 }", U64(a, 56));
        Hex(sb, "{ bp_len, config2 }", U64(a, 64));
        Bits(sb, "branch_sample_type", U64(a, 72), BranchSampleBits);
        Hex(sb, "sample_regs_user", U64(a, 80));
        Unsigned(sb, "sample_stack_user", U32(a, 88));
        int clockId = (int)U32(a, 92);
        if (clockId != 0) sb.Append(Inv, $", clockid = {clockId}");
        Hex(sb, "sample_regs_intr", U64(a, 96));
        Unsigned(sb, "aux_watermark", U32(a, 104));
        Unsigned(sb, "sample_max_stack", U16(a, 108));
        Unsigned(sb, "aux_sample_size", U32(a, 112));
        Unsigned(sb, "sig_data", U64(a, 120));
    }

    private static (ulong, string)[] InBitOrder(string[] names) => [.. names.Select((n, i) => (1UL << i, n))];

    private static void Load(ReadOnlySpan<byte> attrBytes, Span<byte> into)
    {
        into.Clear();
        attrBytes[..Math.Min(attrBytes.Length, into.Length)].CopyTo(into);
    }

    private static void Unsigned(StringBuilder sb, string name, ulong v)
    {
        if (v != 0) sb.Append(Inv, $", {name} = {v}");
    }

    private static void Hex(StringBuilder sb, string name, ulong v)
    {
        if (v != 0) sb.Append(Inv, $", {name} = 0x{v:x}");
    }

    private static void Bits(StringBuilder sb, string name, ulong v, (ulong Bit, string Name)[] bits)
    {
        if (v == 0) return;
        sb.Append(", ").Append(name).Append(" = ");
        bool first = true;
        foreach (var (bit, bitName) in bits)
        {
            if ((v & bit) == 0) continue;
            if (!first) sb.Append('|');
            sb.Append(bitName);
            first = false;
        }
    }

    private static ulong U64(ReadOnlySpan<byte> a, int o) => BinaryPrimitives.ReadUInt64LittleEndian(a[o..]);
    private static uint U32(ReadOnlySpan<byte> a, int o) => BinaryPrimitives.ReadUInt32LittleEndian(a[o..]);
    private static ushort U16(ReadOnlySpan<byte> a, int o) => BinaryPrimitives.ReadUInt16LittleEndian(a[o..]);
}
