using System.Globalization;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>
/// The ground-truth text export of a single-stepped run: for each thread (in recording order) a line
/// <c># pid P tid T</c>, then the address of every executed instruction, one per line, lowercase hex without 0x.
/// Markers (exec, signal, exit) are not written: the file lists what ran, which is what a PT decoder must print.
/// </summary>
public static class GroundTruthWriter
{
    public static void Write(ExecutionRecording recording, string path)
    {
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false), bufferSize: 1 << 16);
        Write(recording, writer);
    }

    public static void Write(ExecutionRecording recording, TextWriter writer)
    {
        Span<char> line = stackalloc char[17];
        foreach (var thread in recording.Threads)
        {
            writer.Write("# pid ");
            writer.Write(thread.Pid.ToString(CultureInfo.InvariantCulture));
            writer.Write(" tid ");
            writer.Write(thread.Tid.ToString(CultureInfo.InvariantCulture));
            writer.Write('\n');
            foreach (ulong entry in thread.Steps.AsSpan())
            {
                if (StepMarker.IsMarker(entry)) continue;
                entry.TryFormat(line, out int n, "x", CultureInfo.InvariantCulture);
                line[n] = '\n';
                writer.Write(line[..(n + 1)]);
            }
        }
    }
}

/// <summary>One thread's section of a ground-truth file.</summary>
public sealed record GroundTruthThread(int Pid, int Tid, ulong[] Addresses);

/// <summary>Reads what <see cref="GroundTruthWriter"/> writes; bad lines fail with the file and line number.</summary>
public static class GroundTruthReader
{
    public static List<GroundTruthThread> Read(string path)
    {
        using var reader = new StreamReader(path);
        return Read(reader, path);
    }

    public static List<GroundTruthThread> Read(TextReader reader, string source = "ground truth")
    {
        var threads = new List<GroundTruthThread>();
        var addresses = new List<ulong>();
        int pid = 0, tid = 0, lineNumber = 0;
        bool inThread = false;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                if (inThread) threads.Add(new GroundTruthThread(pid, tid, [.. addresses]));
                addresses.Clear();
                (pid, tid) = ParseHeader(line, source, lineNumber);
                inThread = true;
                continue;
            }
            if (!inThread)
                throw new FormatException($"{source}:{lineNumber}: an address before the first '# pid P tid T' line");
            if (line.Length > 16 || !ulong.TryParse(line, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong address))
                throw new FormatException($"{source}:{lineNumber}: '{Shorten(line)}' is not a hexadecimal address");
            addresses.Add(address);
        }
        if (inThread) threads.Add(new GroundTruthThread(pid, tid, [.. addresses]));
        return threads;
    }

    private static (int Pid, int Tid) ParseHeader(string line, string source, int lineNumber)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 5 && parts[0] == "#" && parts[1] == "pid" && parts[3] == "tid" &&
            int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) &&
            int.TryParse(parts[4], NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
            return (pid, tid);
        throw new FormatException($"{source}:{lineNumber}: expected '# pid P tid T', found '{Shorten(line)}'");
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
