using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One build-id entry: the machine (pid -1 is the host kernel), the cpumode bits, the id and the file.</summary>
public sealed record BuildIdEntry(int Pid, ushort Misc, byte[] BuildId, string FileName)
{
    public string BuildIdHex => Convert.ToHexStringLower(BuildId);
}

/// <summary>
/// BUILD_ID: perf_record_header_build_id entries back to back, each {u32 type, u16 misc, u16 size; i32 pid;
/// u8 build_id[24] (20 bytes of id, then its length when misc bit 15 is set); filename to the entry's size}.
/// Files from before perf 2.6.34 have no pid: perf recognises them when the first filename, read at the new
/// offset, is "[kernel.kallsyms]" with its first four characters eaten, and so do we.
/// </summary>
public sealed record BuildIdTable(IReadOnlyList<BuildIdEntry> Entries)
{
    private const int EntryHeader = 8 + 4 + 24;
    private const int OldEntryHeader = 8 + 24;
    private const ushort MiscBuildIdSize = 1 << 15;
    private const int BuildIdMax = 20;

    public const string OwnLinePrefix = "# build id";

    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out BuildIdTable? value, out FeatureProblem problem)
    {
        value = null;
        var entries = new List<BuildIdEntry>();
        var c = new FeatureCursor(payload);
        while (c.Remaining > 0)
        {
            int start = c.Position;
            if (!c.Bytes(EntryHeader, out ReadOnlySpan<byte> head)) break;
            ushort misc = BinaryPrimitives.ReadUInt16LittleEndian(head[4..]);
            ushort size = BinaryPrimitives.ReadUInt16LittleEndian(head[6..]);
            if (size < EntryHeader)
            {
                problem = new FeatureProblem(start, $"build-id entry of {size} bytes, less than its {EntryHeader}-byte header");
                return false;
            }
            if (!c.Bytes((ulong)(size - EntryHeader), out ReadOnlySpan<byte> name)) { c.Fail(FeatureProblem.Truncated); break; }
            if (name.StartsWith("nel.kallsyms]"u8)) return TryParseWithoutPid(payload, out value, out problem);
            int idLength = (misc & MiscBuildIdSize) != 0 ? Math.Min((int)head[12 + 20], BuildIdMax) : BuildIdMax;
            entries.Add(new BuildIdEntry(BinaryPrimitives.ReadInt32LittleEndian(head[8..]), misc, head.Slice(12, idLength).ToArray(), FeatureCursor.CString(name)));
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new BuildIdTable(entries);
        return true;
    }

    /// <summary>The pre-2.6.34 layout: no pid; the machine is the host kernel unless misc says guest.</summary>
    private static bool TryParseWithoutPid(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out BuildIdTable? value, out FeatureProblem problem)
    {
        value = null;
        var entries = new List<BuildIdEntry>();
        var c = new FeatureCursor(payload);
        while (c.Remaining > 0)
        {
            int start = c.Position;
            if (!c.Bytes(OldEntryHeader, out ReadOnlySpan<byte> head)) break;
            ushort misc = BinaryPrimitives.ReadUInt16LittleEndian(head[4..]);
            ushort size = BinaryPrimitives.ReadUInt16LittleEndian(head[6..]);
            if (size < OldEntryHeader)
            {
                problem = new FeatureProblem(start, $"build-id entry of {size} bytes, less than its {OldEntryHeader}-byte header");
                return false;
            }
            if (!c.Bytes((ulong)(size - OldEntryHeader), out ReadOnlySpan<byte> name)) break;
            int pid = misc is 4 or 5 ? 0 : -1;   // PERF_RECORD_MISC_GUEST_KERNEL / GUEST_USER: the default guest
            entries.Add(new BuildIdEntry(pid, misc, head.Slice(8, BuildIdMax).ToArray(), FeatureCursor.CString(name)));
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new BuildIdTable(entries);
        return true;
    }

    /// <summary>perf prints nothing for BUILD_ID here (perf buildid-list does); these lines are ours.</summary>
    public void Print(StringBuilder sb)
    {
        foreach (BuildIdEntry e in Entries)
            sb.Append(CultureInfo.InvariantCulture, $"{OwnLinePrefix}: {e.BuildIdHex} {e.FileName} (pid {e.Pid}, misc 0x{e.Misc:x})\n");
    }
}
