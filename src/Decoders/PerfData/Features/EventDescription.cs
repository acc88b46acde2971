using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One event of EVENT_DESC: its perf_event_attr as written, its name, and the sample ids of its instances.</summary>
public sealed record EventDescEntry(byte[] Attr, string Name, ulong[] Ids);

/// <summary>
/// EVENT_DESC: u32 nr_events, u32 attr_size, then per event {attr (attr_size bytes), u32 nr_ids, string name,
/// u64 ids[nr_ids]}. <see cref="Readable"/> is false when perf 6.1 would refuse the attrs (reserved bits or
/// sample_type/read_format/branch bits it does not know); perf then prints "event desc: not available".
/// </summary>
public sealed record EventDescription(IReadOnlyList<EventDescEntry> Events, bool Readable)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out EventDescription? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var events = new List<EventDescEntry>();
        bool readable = true;
        if (c.U32(out uint count) && c.U32(out uint attrSize))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.Bytes(attrSize, out ReadOnlySpan<byte> attr) || !c.U32(out uint nrIds) || !c.String(out string name)) break;
                if (nrIds > (uint)(c.Remaining / 8)) { c.Fail(FeatureProblem.Truncated); break; }
                var ids = new ulong[nrIds];
                for (int k = 0; k < ids.Length; k++) c.U64(out ids[k]);
                readable &= AttrText.PassesPerf61Check(attr);
                events.Add(new EventDescEntry(attr.ToArray(), name, ids));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new EventDescription(events, readable);
        return true;
    }

    /// <summary>"# event : name = N, , id = { 1, 2 }, type = 1, ..." per event (print_event_desc).</summary>
    public void Print(StringBuilder sb)
    {
        if (!Readable)
        {
            sb.Append("# event desc: not available or unable to read\n");
            return;
        }
        foreach (EventDescEntry e in Events)
        {
            // perf's list of events ends at the first attr whose size field is 0.
            if (AttrText.SizeField(e.Attr) == 0) break;
            sb.Append("# event : name = ").Append(e.Name).Append(", ");
            if (e.Ids.Length > 0)
            {
                sb.Append(", id = {");
                for (int i = 0; i < e.Ids.Length; i++) sb.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")} {e.Ids[i]}");
                sb.Append(" }");
            }
            AttrText.Append(sb, e.Attr);
            sb.Append('\n');
        }
    }
}
