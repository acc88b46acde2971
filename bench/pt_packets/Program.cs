// Packet decode throughput of DotnetPtrace.Decoders.IntelPt.PtPacketDecoder against libipt's packet decoder
// (a pt_pkt_next loop in C, tests/DotnetPtrace.Tests/IntelPt/libipt_harness.c) on the same bytes, in the same run:
// the trace itself, and the trace repeated to about MIB MiB.
//   dotnet run -c Release --project bench/pt_packets -- [TRACE] [MIB]
using System.Diagnostics;
using DotnetPtrace.Decoders.IntelPt;

string repo = FindRepo();
string trace = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(repo, "..", "shared", "testdata", "pt-real", "mruby", "trace.pt"));
int mib = args.Length > 1 ? int.Parse(args[1]) : 256;

byte[] unit = File.ReadAllBytes(trace);
long copies = Math.Max(1, ((long)mib << 20) / unit.Length);
var big = new byte[unit.Length * copies];
for (long o = 0; o < big.Length; o += unit.Length) unit.CopyTo(big, o);
Console.WriteLine($"trace {trace}: {unit.Length} bytes; repeated x{copies} = {big.Length} bytes");

// Warm up: enough calls and time for tiered compilation to finish (tier-1 with PGO) before anything is measured.
var warm = Stopwatch.StartNew();
for (int i = 0; i < 200 || warm.ElapsedMilliseconds < 1500; i++) Decode(unit);
Thread.Sleep(200);
Measure("trace", unit, 50);
Measure("repeated", big, 5);
RunLibipt(repo, trace, mib);
return 0;

static void Measure(string name, byte[] bytes, int reps)
{
    Decode(bytes); // touch the pages once
    double best = double.MaxValue;
    long packets = 0;
    long allocated = 0;
    for (int r = 0; r < reps; r++)
    {
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        long t0 = Stopwatch.GetTimestamp();
        packets = Decode(bytes);
        double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
        best = Math.Min(best, s);
    }
    Console.WriteLine($"ours   {name} bytes={bytes.Length} packets={packets} best_s={best:F6} MiB/s={bytes.Length / 1048576.0 / best:F1} allocated={allocated}");
}

static long Decode(ReadOnlySpan<byte> bytes)
{
    var d = new PtPacketDecoder(bytes);
    long n = 0;
    if (d.SyncForward() != PtStatus.Ok) return 0;
    while (true)
    {
        PtStatus s = d.Next(out _);
        if (s == PtStatus.Ok)
        {
            n++;
            continue;
        }
        if (s is PtStatus.EndOfStream or PtStatus.Truncated) return n;
        if (d.SyncForward() != PtStatus.Ok) return n;
    }
}

static void RunLibipt(string repo, string trace, int mib)
{
    string source = Path.Combine(repo, "tests", "DotnetPtrace.Tests", "IntelPt", "libipt_harness.c");
    string exe = Path.Combine(Path.GetTempPath(), "pt_packets_libipt_bench");
    if (!Run("gcc", ["-O2", "-o", exe, source, "-lipt"]))
    {
        Console.WriteLine("libipt: cannot build the harness (needs gcc and libipt-dev)");
        return;
    }
    Run(exe, ["bench", trace, mib.ToString()]);
}

static bool Run(string exe, string[] args)
{
    var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
    foreach (string a in args) psi.ArgumentList.Add(a);
    using var p = Process.Start(psi)!;
    p.WaitForExit();
    return p.ExitCode == 0;
}

static string FindRepo()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "dotnet-ptrace.sln"))) return d.FullName;
    throw new InvalidOperationException("run from inside the dotnet-ptrace checkout");
}
