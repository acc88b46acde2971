using System.Diagnostics;
using System.Text;
using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Tests.IntelPt;

/// <summary>Where the shared real traces are, how to read their goldens, and how to run the libipt oracle.</summary>
internal static class PtTestSupport
{
    /// <summary>../shared/testdata/pt-real relative to the repository root, or null when absent (tests then skip).</summary>
    public static string? PtRealDir
    {
        get
        {
            string p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "testdata", "pt-real"));
            return Directory.Exists(p) ? p : null;
        }
    }

    /// <summary>The checkout this test assembly was built from (the folder holding dotnet-ptrace.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "dotnet-ptrace.sln"))) return dir.FullName;
            throw new InvalidOperationException($"no dotnet-ptrace.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>Every trace in pt-real: (name, path of the .pt file, folder).</summary>
    public static IEnumerable<(string Name, string Pt, string Dir)> Traces(string root)
    {
        foreach (string dir in Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal))
            foreach (string pt in Directory.GetFiles(dir, "*.pt").OrderBy(p => p, StringComparer.Ordinal))
                yield return (Path.GetFileName(dir) + "/" + Path.GetFileName(pt), pt, dir);
    }

    /// <summary>A golden text file, decompressing NAME.xz with xz -dc when only that exists.</summary>
    public static string? ReadGolden(string path)
    {
        if (File.Exists(path)) return File.ReadAllText(path);
        if (!File.Exists(path + ".xz")) return null;
        var r = Run("xz", ["-dc", path + ".xz"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, $"xz -dc {path}.xz failed ({r.ExitCode}): {r.Stderr}. Install xz-utils.");
        return r.Stdout;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string exe, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run {exe}: {e.Message}", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(true);
                throw new TimeoutException($"{exe} did not finish in {timeout}");
            }
            return new Result(p.ExitCode, stdout.Result, stderr.Result);
        }
    }

    private static readonly Lazy<string> HarnessPath = new(BuildHarness);

    /// <summary>The libipt oracle, compiled once per run with gcc against Debian's libipt-dev.</summary>
    public static string Harness => HarnessPath.Value;

    private static string BuildHarness()
    {
        string source = Path.Combine(RepoRoot, "tests", "DotnetPtrace.Tests", "IntelPt", "libipt_harness.c");
        Assert.True(File.Exists(source), $"{source} is missing from the test output");
        Assert.True(File.Exists("/usr/include/intel-pt.h"),
            "libipt-dev is not installed (no /usr/include/intel-pt.h): apt-get install libipt-dev (.ci/install-deps does)");
        string exe = Path.Combine(Path.GetTempPath(), $"dotnet-ptrace-libipt-harness-{Environment.ProcessId}");
        Result r;
        try
        {
            r = Run("gcc", ["-O2", "-Wall", "-o", exe, source, "-lipt"], TimeSpan.FromSeconds(120));
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException("gcc is needed to build the libipt oracle: apt-get install gcc libc6-dev", e);
        }
        Assert.True(r.ExitCode == 0, $"building the libipt harness failed (is libipt-dev installed?):\n{r.Stderr}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(exe);
        return exe;
    }

    /// <summary>libipt's canonical dump of a file (see libipt_harness.c).</summary>
    public static string[] LibiptDump(string file)
    {
        var r = Run(Harness, ["dump", file], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, $"libipt harness failed on {file}: {r.Stderr}");
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>libipt's decode-and-re-encode of a file (pt_pkt_next then pt_enc_next, up to the first error).</summary>
    public static byte[] LibiptReencode(string file)
    {
        string output = file + ".libipt";
        var r = Run(Harness, ["reencode", file, output], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, $"libipt re-encoding of {file} failed: {r.Stderr}");
        return File.ReadAllBytes(output);
    }

    /// <summary>Our decode-and-re-encode, with the same extent: from the first PSB up to the first error.</summary>
    public static byte[] OurReencode(ReadOnlySpan<byte> bytes)
    {
        var output = new byte[bytes.Length + 64];
        var d = new PtPacketDecoder(bytes);
        int n = 0;
        if (d.SyncForward() != PtStatus.Ok) return [];
        while (d.Next(out PtPacket p) == PtStatus.Ok)
        {
            int w = PtPacketEncoder.Encode(p, output.AsSpan(n));
            Assert.True(w > 0, $"cannot re-encode {p}");
            n += w;
        }
        return output[..n];
    }

    /// <summary>
    /// Our decoder driven the way the harness drives libipt, printed in the same canonical form. Packets that the
    /// Debian libipt 2.0.5 does not know (CFE, EVD, TRIG, BBP, BEP) are reported as the bad opcode it sees there,
    /// followed by its resync, so whole streams stay comparable.
    /// </summary>
    public static string[] OurDump(ReadOnlySpan<byte> buffer)
    {
        var lines = new List<string>();
        var d = new PtPacketDecoder(buffer);
        PtStatus s = d.SyncForward();
        while (s == PtStatus.Ok)
        {
            int off = d.Offset;
            int sync = d.SyncOffset;
            s = d.Next(out PtPacket p);
            if (s == PtStatus.Ok && p.Kind is PtPacketKind.Cfe or PtPacketKind.Evd or PtPacketKind.Trig or PtPacketKind.Bbp or PtPacketKind.Bep)
            {
                lines.Add($"{off:x} error bad_opc");
                int from = off == sync ? off + PtSync.PsbSize : off;
                int next = PtSync.Forward(buffer, from - Math.Min(from, PtSync.PsbSize - 1));
                s = next < 0 ? PtStatus.EndOfStream : d.SyncSet(next);
                continue;
            }
            if (s == PtStatus.Ok)
            {
                lines.Add(Canonical(off, p));
                continue;
            }
            if (s is PtStatus.EndOfStream or PtStatus.Truncated)
            {
                lines.Add($"{off:x} eos");
                break;
            }
            lines.Add($"{off:x} error {(s == PtStatus.BadOpcode ? "bad_opc" : "bad_packet")}");
            s = d.SyncForward();
        }
        lines.Add("end");
        return [.. lines];
    }

    public static string Canonical(int off, in PtPacket p)
    {
        string body = p.Kind switch
        {
            PtPacketKind.Pad => "pad",
            PtPacketKind.Psb => "psb",
            PtPacketKind.PsbEnd => "psbend",
            PtPacketKind.Ovf => "ovf",
            PtPacketKind.Stop => "stop",
            PtPacketKind.Tnt8 => $"tnt8 {p.Sub} {p.Payload:x}",
            PtPacketKind.Tnt64 => $"tnt64 {p.Sub} {p.Payload:x}",
            PtPacketKind.Tip => $"tip {p.Sub} {p.Payload:x}",
            PtPacketKind.TipPge => $"tip.pge {p.Sub} {p.Payload:x}",
            PtPacketKind.TipPgd => $"tip.pgd {p.Sub} {p.Payload:x}",
            PtPacketKind.Fup => $"fup {p.Sub} {p.Payload:x}",
            PtPacketKind.ModeExec => $"mode.exec {p.Sub & 1} {(p.Sub >> 1) & 1}",
            PtPacketKind.ModeTsx => $"mode.tsx {p.Sub & 1} {(p.Sub >> 1) & 1}",
            PtPacketKind.Pip => $"pip {p.PipCr3:x} {(p.PipNonRoot ? 1 : 0)}",
            PtPacketKind.Tsc => $"tsc {p.Payload:x}",
            PtPacketKind.Cbr => $"cbr {p.Sub:x}",
            PtPacketKind.Tma => $"tma {p.Payload:x} {p.Aux:x}",
            PtPacketKind.Mtc => $"mtc {p.Payload:x}",
            PtPacketKind.Cyc => $"cyc {p.Payload:x}",
            PtPacketKind.Vmcs => $"vmcs {p.Payload:x}",
            PtPacketKind.Mnt => $"mnt {p.Payload:x}",
            PtPacketKind.Exstop => $"exstop {(p.Flag0 ? 1 : 0)}",
            PtPacketKind.Mwait => $"mwait {p.Payload:x} {p.Aux:x}",
            PtPacketKind.Pwre => $"pwre {p.PwreState} {p.PwreSubState} {(p.PwreHw ? 1 : 0)}",
            PtPacketKind.Pwrx => $"pwrx {p.PwrxLast} {p.PwrxDeepest} {(p.PwrxInterrupt ? 1 : 0)} {(p.PwrxStore ? 1 : 0)} {(p.PwrxAutonomous ? 1 : 0)}",
            PtPacketKind.Ptw => $"ptw {p.Sub} {p.Payload:x} {(p.Flag0 ? 1 : 0)}",
            _ => $"unexpected {p.Kind}",
        };
        return $"{off:x} {p.Size} {body}";
    }

    /// <summary>Asserts equal line lists, reporting the first difference with context.</summary>
    public static void AssertSameLines(string[] expected, string[] actual, string what)
    {
        int n = Math.Min(expected.Length, actual.Length);
        for (int i = 0; i < n; i++)
        {
            if (expected[i] == actual[i]) continue;
            var sb = new StringBuilder($"{what}: first difference at line {i + 1}\n");
            for (int j = Math.Max(0, i - 3); j < Math.Min(n, i + 3); j++)
                sb.Append($"  expected: {expected[j]}\n  actual:   {actual[j]}\n");
            Assert.Fail(sb.ToString());
        }
        if (expected.Length != actual.Length)
            Assert.Fail($"{what}: {expected.Length} lines expected, {actual.Length} produced; first extra: " +
                (expected.Length > n ? expected[n] : actual[n]));
    }
}
