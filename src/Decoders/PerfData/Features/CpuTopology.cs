using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData.Features;

/// <summary>The topology ids of one CPU; <see cref="DieId"/> is meaningful only when the file has die siblings.</summary>
public readonly record struct CpuIds(int CoreId, int SocketId, int DieId);

/// <summary>
/// CPU_TOPOLOGY: u32 n + n strings of socket ("core") siblings, u32 n + n strings of thread siblings, then (newer
/// perf) per CPU {u32 core_id, u32 socket_id}, then (newer still) u32 n + n die sibling strings and per CPU u32
/// die_id. The per-CPU arrays have NRCPUS "avail" entries. Whether the optional parts are there is decided as
/// perf's process_cpu_topology decides it: by comparing the section size with the size the strings would have had
/// when perf wrote them (each padded to 64), and socket ids larger than the CPU count mean the ids are unusable
/// (except on s390 and aarch64, where they may be).
/// </summary>
public sealed record CpuTopology(
    IReadOnlyList<string> SocketSiblings,
    IReadOnlyList<string> DieSiblings,
    IReadOnlyList<string> ThreadSiblings,
    IReadOnlyList<CpuIds>? Cpus)
{
    public static bool TryParse(ReadOnlySpan<byte> payload, int cpusAvailable, string? arch, [NotNullWhen(true)] out CpuTopology? value, out FeatureProblem problem)
    {
        value = null;
        var c = new FeatureCursor(payload);
        long perfSize = 0;   // what perf believes it has read (string_size of each string, not its stored length)
        if (!ReadSiblings(ref c, ref perfSize, out List<string> sockets) || !ReadSiblings(ref c, ref perfSize, out List<string> threads))
        {
            problem = c.Problem ?? default;
            return false;
        }
        problem = default;
        if (payload.Length <= perfSize)
        {
            value = new CpuTopology(sockets, [], threads, null);
            return true;
        }
        bool checkSocketIds = arch is null || !(arch.StartsWith("s390", StringComparison.Ordinal) || arch.StartsWith("aarch64", StringComparison.Ordinal));
        int n = Math.Max(cpusAvailable, 0);
        var cores = new int[Math.Min(n, c.Remaining / 8 + 1)];
        var socketIds = new int[cores.Length];
        for (int i = 0; i < n; i++)
        {
            if (i >= cores.Length) { c.Fail(FeatureProblem.Truncated); break; }
            if (!c.I32(out cores[i]) || !c.U32(out uint socket)) break;
            if (checkSocketIds && socket != uint.MaxValue && socket > (uint)n)
            {
                // perf gives up on the ids ("socket_id number is too big") and keeps only the sibling lists.
                value = new CpuTopology(sockets, [], threads, null);
                return true;
            }
            socketIds[i] = (int)socket;
            perfSize += 8;
        }
        if (c.Problem is not null) { problem = c.Problem.Value; return false; }
        if (payload.Length <= perfSize)
        {
            value = new CpuTopology(sockets, [], threads, [.. cores.Select((core, i) => new CpuIds(core, socketIds[i], 0))]);
            return true;
        }
        if (!ReadSiblings(ref c, ref perfSize, out List<string> dies)) { problem = c.Problem ?? default; return false; }
        var ids = new CpuIds[cores.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            if (!c.I32(out int die)) { problem = c.Problem ?? default; return false; }
            ids[i] = new CpuIds(cores[i], socketIds[i], die);
        }
        value = new CpuTopology(sockets, dies, threads, ids);
        return true;
    }

    private static bool ReadSiblings(ref FeatureCursor c, ref long perfSize, out List<string> list)
    {
        list = [];
        if (!c.U32(out uint count)) return false;
        perfSize += 4;
        for (uint i = 0; i < count; i++)
        {
            if (!c.String(out string s)) return false;
            list.Add(s);
            perfSize += (System.Text.Encoding.UTF8.GetByteCount(s) + 1 + 63) / 64 * 64 + 4;
        }
        return true;
    }

    /// <summary>print_cpu_topology.</summary>
    public void Print(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (string s in SocketSiblings) sb.Append("# sibling sockets : ").Append(s).Append('\n');
        foreach (string s in DieSiblings) sb.Append("# sibling dies    : ").Append(s).Append('\n');
        foreach (string s in ThreadSiblings) sb.Append("# sibling threads : ").Append(s).Append('\n');
        bool dies = DieSiblings.Count > 0;
        if (Cpus is null)
        {
            sb.Append(dies ? "# Core ID, Die ID and Socket ID information is not available\n" : "# Core ID and Socket ID information is not available\n");
            return;
        }
        for (int i = 0; i < Cpus.Count; i++)
        {
            CpuIds id = Cpus[i];
            if (dies) sb.Append(inv, $"# CPU {i}: Core ID {id.CoreId}, Die ID {id.DieId}, Socket ID {id.SocketId}\n");
            else sb.Append(inv, $"# CPU {i}: Core ID {id.CoreId}, Socket ID {id.SocketId}\n");
        }
    }
}
