// Flow decode throughput of DotnetPtrace.Decoders.IntelPt.Flow against libipt's block decoder (pt_blk_next in a
// ptxed-style loop, tests/DotnetPtrace.Tests/Flow/libipt_flow_harness.c) on the same trace and memory image, in the
// same run: the trace itself, and the trace repeated to about MIB MiB. Ours is measured block-level (blocks and
// counts only) and with every instruction printed in ptxed's text to /dev/null.
//   dotnet run -c Release --project bench/flow -- [PT-REAL-DIR] [MIB] [F/M]
//   dotnet run -c Release --project bench/flow -- text DIR [F/M]      (ptxed text of one trace, to stdout)
//   dotnet run -c Release --project bench/flow -- profile DIR         (blocks for 20 s, to profile)
using System.Buffers;
using System.Diagnostics;
using DotnetPtrace.Decoders.IntelPt.Flow;

string repo = FindRepo();
if (args.Length >= 2 && args[0] == "text") return Text(args[1], args.Length > 2 ? args[2] : "6/94");
// profile DIR: decode blocks for 20 s (for perf record with DOTNET_PerfMapEnabled=1)
if (args.Length >= 2 && args[0] == "profile")
{
    byte[] t = File.ReadAllBytes(Path.Combine(args[1], "trace.pt"));
    var cfg = PtFlowConfig.ForCpu(6, 94);
    var img = new PtImage();
    PtImageLoader.AddMemoryDump(img, Path.Combine(args[1], "pages.dump"), Path.Combine(args[1], "pages.addr"));
    var sw = Stopwatch.StartNew();
    while (sw.ElapsedMilliseconds < 20000) Blocks(t, img, cfg);
    return 0;
}
string dir = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(repo, "..", "shared", "testdata", "pt-real", "mruby"));
int mib = args.Length > 1 ? int.Parse(args[1]) : 256;
string cpu = args.Length > 2 ? args[2] : "6/94";
PtErrata.TryParseCpu(cpu, out int family, out int model, out _);
var config = PtFlowConfig.ForCpu(family, model);

byte[] unit = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
long copies = Math.Max(1, ((long)mib << 20) / unit.Length);
var big = new byte[unit.Length * copies];
for (long o = 0; o < big.Length; o += unit.Length) unit.CopyTo(big, o);
Console.WriteLine($"trace {dir}/trace.pt: {unit.Length} bytes; repeated x{copies} = {big.Length} bytes; cpu {cpu}");

var image = new PtImage();
PtImageLoader.AddMemoryDump(image, Path.Combine(dir, "pages.dump"), Path.Combine(dir, "pages.addr"));

// Warm up: tiered compilation (tier-1 with PGO) and the block caches, before anything is measured.
var warm = Stopwatch.StartNew();
for (int i = 0; i < 30 || warm.ElapsedMilliseconds < 2000; i++) Blocks(unit, image, config);
Thread.Sleep(200);
using var devnull = File.OpenWrite("/dev/null");
Measure("blocks", "trace", unit, 20, () => Blocks(unit, image, config));
Measure("insns>/dev/null", "trace", unit, 10, () => Insns(unit, image, config, devnull));
Measure("blocks", "repeated", big, 3, () => Blocks(big, image, config));
Measure("insns>/dev/null", "repeated", big, 2, () => Insns(big, image, config, devnull));
Console.WriteLine($"peak working set: {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:F0} MiB (ours, incl. the {big.Length / 1048576} MiB input)");
RunLibipt(repo, dir, mib, family, model);
return 0;

static void Measure(string what, string name, byte[] bytes, int reps, Func<PtFlowSummary> run)
{
    double best = double.MaxValue;
    PtFlowSummary s = default;
    long allocated = 0;
    for (int r = 0; r < reps; r++)
    {
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        long t0 = Stopwatch.GetTimestamp();
        s = run();
        double sec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
        best = Math.Min(best, sec);
    }
    Console.WriteLine($"ours-{what} {name} bytes={bytes.Length} insns={s.Instructions} blocks={s.Blocks} errors={s.Errors} best_s={best:F6} " +
        $"MiB/s={bytes.Length / 1048576.0 / best:F1} Minsn/s={s.Instructions / 1e6 / best:F1} allocated={allocated}");
}

static PtFlowSummary Blocks(byte[] trace, PtImage image, PtFlowConfig config)
{
    var sink = new CountingSink();
    return PtFlowSession.Decode(trace, image, config, ref sink);
}

static PtFlowSummary Insns(byte[] trace, PtImage image, PtFlowConfig config, Stream output)
{
    var writer = new StreamBufferWriter(output);
    var sink = new PtxedTextSink(writer);
    var s = PtFlowSession.Decode(trace, image, config, ref sink);
    writer.Flush();
    return s;
}

static int Text(string dir, string cpu)
{
    PtErrata.TryParseCpu(cpu, out int f, out int m, out _);
    var image = new PtImage();
    PtImageLoader.AddMemoryDump(image, Path.Combine(dir, "pages.dump"), Path.Combine(dir, "pages.addr"));
    byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
    using var stdout = Console.OpenStandardOutput();
    var writer = new StreamBufferWriter(stdout);
    var sink = new PtxedTextSink(writer);
    var summary = PtFlowSession.Decode(trace, image, PtFlowConfig.ForCpu(f, m), ref sink);
    writer.Flush();
    Console.Error.WriteLine($"insn: {summary.Instructions}. blocks: {summary.Blocks} events: {summary.Events} errors: {summary.Errors}");
    return 0;
}

static void RunLibipt(string repo, string dir, int mib, int family, int model)
{
    string source = Path.Combine(repo, "tests", "DotnetPtrace.Tests", "Flow", "libipt_flow_harness.c");
    string exe = Path.Combine(Path.GetTempPath(), $"bench-flow-libipt-{Environment.ProcessId}");
    var gcc = Process.Start(new ProcessStartInfo("gcc", ["-O2", "-o", exe, source, "-lipt"]) { RedirectStandardError = true })!;
    string err = gcc.StandardError.ReadToEnd();
    gcc.WaitForExit();
    if (gcc.ExitCode != 0)
    {
        Console.WriteLine($"libipt: cannot build the harness (gcc, libipt-dev needed): {err}");
        return;
    }
    try
    {
        var p = Process.Start(new ProcessStartInfo(exe, ["blk", Path.Combine(dir, "trace.pt"), Path.Combine(dir, "pages.dump"),
            Path.Combine(dir, "pages.addr"), family.ToString(), model.ToString(), mib.ToString()]) { RedirectStandardOutput = true })!;
        Console.Write(p.StandardOutput.ReadToEnd());
        p.WaitForExit();
    }
    finally
    {
        File.Delete(exe);
    }
}

static string FindRepo()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "dotnet-ptrace.sln"))) return d.FullName;
    throw new InvalidOperationException("no dotnet-ptrace.sln above " + AppContext.BaseDirectory);
}

/// <summary>Counts only: what block-level consumers (coverage, call graphs) pay for.</summary>
struct CountingSink : IPtFlowSink
{
    public long Events;
    public void OnBlock(in PtBlock block) { }
    public void OnEvent(in PtEvent ev, long offset) => Events++;
    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) { }
    public void OnEndOfTrace() { }
}

/// <summary>A buffered IBufferWriter over a stream.</summary>
sealed class StreamBufferWriter(Stream stream) : IBufferWriter<byte>
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    public void Advance(int count) => _used += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        if (_buffer.Length - _used < Math.Max(sizeHint, 256)) Flush();
        return _buffer.AsSpan(_used);
    }

    public void Flush()
    {
        if (_used > 0) stream.Write(_buffer, 0, _used);
        _used = 0;
    }
}

