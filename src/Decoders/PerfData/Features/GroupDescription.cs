using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>One event group: its name ("{anon_group}" when unnamed), the index of its leader event, its size.</summary>
public readonly record struct EventGroup(string Name, uint LeaderIndex, uint Members);

/// <summary>GROUP_DESC: u32 nr_groups, then per group {string name, u32 leader_idx, u32 nr_members}.</summary>
public sealed record GroupDescription(IReadOnlyList<EventGroup> Groups)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, [NotNullWhen(true)] out GroupDescription? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        var groups = new List<EventGroup>();
        if (c.U32(out uint count))
        {
            for (uint i = 0; i < count; i++)
            {
                if (!c.String(out string name) || !c.U32(out uint leader) || !c.U32(out uint members)) break;
                groups.Add(new EventGroup(name, leader, members));
            }
        }
        problem = c.Problem ?? default;
        if (c.Problem is not null) return false;
        value = new GroupDescription(groups);
        return true;
    }

    /// <summary>
    /// "# group: name{leader,member,...}" per group, walking the events in file order as print_group_desc does
    /// after process_group_desc assigned leaders (groups are matched to leaders in order).
    /// </summary>
    public void Print(StringBuilder sb, IReadOnlyList<string> eventNames)
    {
        int next = 0;
        uint open = 0;
        for (int idx = 0; idx < eventNames.Count; idx++)
        {
            if (next < Groups.Count && Groups[next].LeaderIndex == idx)
            {
                EventGroup g = Groups[next++];
                if (g.Members > 1)
                {
                    string name = g.Name == "{anon_group}" ? "" : g.Name;
                    sb.Append("# group: ").Append(name).Append('{').Append(eventNames[idx]);
                    open = g.Members - 1;
                }
                else open = 0;
            }
            else if (open > 0)
            {
                sb.Append(',').Append(eventNames[idx]);
                if (--open == 0) sb.Append("}\n");
            }
        }
    }
}
