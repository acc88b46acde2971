using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Tests.IntelPt;

namespace DotnetPtrace.Tests.Flow;

/// <summary>The real traces with memory images, their goldens, and the libipt flow oracle.</summary>
internal static class FlowTestSupport
{
    /// <summary>The pt-real traces that come with their memory, and the CPU their goldens were decoded for.</summary>
    public static TheoryData<string, string> DecodableTraces => new()
    {
        { "Unzip", "6/94" },
        { "foo", "6/94" },
        { "mruby", "6/94" },
        { "dyn_test", "6/94" },
        { "icelake_tip", "6/126" },
    };

    public static PtFlowConfig Config(string cpu)
    {
        Assert.True(PtErrata.TryParseCpu(cpu, out int f, out int m, out string? error), error);
        return PtFlowConfig.ForCpu(f, m);
    }

    public static PtImage LoadImage(string dir)
    {
        var image = new PtImage();
        PtImageLoader.AddMemoryDump(image, Path.Combine(dir, "pages.dump"), Path.Combine(dir, "pages.addr"));
        return image;
    }

    /// <summary>A golden as a stream: the file, or the output of xz -dc for NAME.xz (large goldens stay compressed).</summary>
    public static Stream OpenGolden(string path, out Process? xz)
    {
        xz = null;
        if (File.Exists(path)) return File.OpenRead(path);
        Assert.True(File.Exists(path + ".xz"), $"golden {path} (or .xz) is missing");
        var psi = new ProcessStartInfo("xz", ["-dc", path + ".xz"]) { RedirectStandardOutput = true, UseShellExecute = false };
        try
        {
            xz = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("xz is needed to read compressed goldens: apt-get install xz-utils", e);
        }
        return xz.StandardOutput.BaseStream;
    }

    /// <summary>ptxed's instruction count from ptxed-count.txt ("insn: N.").</summary>
    public static long GoldenCount(string dir)
    {
        string text = File.ReadAllText(Path.Combine(dir, "ptxed-count.txt")).Trim();
        Assert.StartsWith("insn: ", text);
        return long.Parse(text["insn: ".Length..].TrimEnd('.'));
    }

    private static readonly Lazy<string> HarnessPath = new(BuildHarness);

    /// <summary>libipt's instruction flow and block decoders (Debian libipt-dev) behind a small C harness.</summary>
    public static string Harness => HarnessPath.Value;

    private static string BuildHarness()
    {
        string source = Path.Combine(PtTestSupport.RepoRoot, "tests", "DotnetPtrace.Tests", "Flow", "libipt_flow_harness.c");
        Assert.True(File.Exists(source), $"{source} is missing");
        Assert.True(File.Exists("/usr/include/intel-pt.h"),
            "libipt-dev is not installed (no /usr/include/intel-pt.h): apt-get install libipt-dev (.ci/install-deps does)");
        string exe = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-libipt-flow-{Environment.ProcessId}");
        var r = PtTestSupport.Run("gcc", ["-O2", "-Wall", "-o", exe, source, "-lipt"], TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, $"building the libipt flow harness failed:\n{r.Stderr}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(exe);
        return exe;
    }

    /// <summary>libipt's instruction flow (pt_insn_next, ptxed loop) as text lines.</summary>
    public static string[] LibiptInsn(string trace, string dir, string cpu)
    {
        string[] fm = cpu.Split('/');
        var r = PtTestSupport.Run(Harness, ["insn", trace, Path.Combine(dir, "pages.dump"), Path.Combine(dir, "pages.addr"), fm[0], fm[1]],
            TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, $"libipt flow harness failed on {trace}: {r.Stderr}");
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Our ptxed-style text of a trace, as lines.</summary>
    public static (string[] Lines, PtFlowSummary Summary) OurText(ReadOnlySpan<byte> trace, PtImage image, PtFlowConfig config)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var sink = new PtxedTextSink(buffer);
        PtFlowSummary summary = PtFlowSession.Decode(trace, image, config, ref sink);
        return (Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries), summary);
    }
}

/// <summary>
/// An output that compares everything written to it with a golden stream as it goes, so a 100 MB flow is checked
/// without being held in memory. Records the first difference with its line number and both lines.
/// </summary>
internal sealed class ComparingWriter(Stream golden) : IBufferWriter<byte>
{
    private readonly byte[] _ours = new byte[1 << 16];
    private readonly byte[] _theirs = new byte[1 << 16];
    private int _used;
    private long _line = 1;
    private string? _previousLine;

    public string? Difference { get; private set; }
    public long Lines => _line - 1;

    public void Advance(int count) => _used += count;
    public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        if (_ours.Length - _used < Math.Max(sizeHint, 512)) Compare();
        return _ours.AsSpan(_used);
    }

    /// <summary>Compares what is left and checks the golden has nothing more.</summary>
    public void Finish()
    {
        Compare();
        if (Difference == null && golden.Read(_theirs, 0, 1) > 0)
            Difference = $"line {_line}: the golden goes on after our last line ({_previousLine})";
    }

    private void Compare()
    {
        int n = _used;
        _used = 0;
        if (Difference != null || n == 0) return;
        int got = 0;
        while (got < n)
        {
            int k = golden.Read(_theirs, got, n - got);
            if (k <= 0) break;
            got += k;
        }
        ReadOnlySpan<byte> ours = _ours.AsSpan(0, n), theirs = _theirs.AsSpan(0, got);
        int i = ours.CommonPrefixLength(theirs);
        if (i == n && got == n)
        {
            CountLines(ours);
            return;
        }
        CountLines(ours[..i]);
        int start = ours[..i].LastIndexOf((byte)'\n') + 1;
        string oursLine = LineAt(ours, start), theirsLine = i < got || start < got ? LineAt(theirs, start) : "<end of golden>";
        Difference = $"line {_line}: expected '{theirsLine}', got '{oursLine}' (previous line '{_previousLine}')";
    }

    private void CountLines(ReadOnlySpan<byte> done)
    {
        int last = done.LastIndexOf((byte)'\n');
        if (last < 0) return;
        _line += done.Count((byte)'\n');
        int prev = done[..last].LastIndexOf((byte)'\n') + 1;
        _previousLine = Encoding.UTF8.GetString(done[prev..last]);
    }

    private static string LineAt(ReadOnlySpan<byte> bytes, int start)
    {
        if (start >= bytes.Length) return "<end>";
        ReadOnlySpan<byte> rest = bytes[start..];
        int end = rest.IndexOf((byte)'\n');
        return Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]);
    }
}

/// <summary>ptxed's error lines: "[offset, ip: error: message]".</summary>
internal static partial class FlowErrorLines
{
    [GeneratedRegex(@"^\[([0-9a-f]+), ([0-9a-f]+): (error|sync error): (.+)\]$")]
    private static partial Regex ErrorLine();

    /// <summary>Every error line has ptxed's form and an offset within the trace.</summary>
    public static void AssertHaveOffsets(IEnumerable<string> lines, int traceLength, string what)
    {
        foreach (string line in lines.Where(l => l.Contains(" error: ")))
        {
            Match m = ErrorLine().Match(line);
            Assert.True(m.Success, $"{what}: malformed error line '{line}'");
            long offset = Convert.ToInt64(m.Groups[1].Value, 16);
            Assert.True(offset <= traceLength, $"{what}: offset 0x{offset:x} is outside the {traceLength}-byte trace: {line}");
        }
    }

}
