using System.Buffers;
using System.Diagnostics;
using DotnetPtrace.Decoders.IntelPt.Flow;

if (args.Length >= 1 && args[0] == "text")
{
    // text DIR F/M : the ptxed --no-inst text of pt-real/DIR to stdout
    string dir = args[1];
    PtErrata.TryParseCpu(args.Length > 2 ? args[2] : "6/94", out int f, out int m, out _);
    var image = new PtImage();
    PtImageLoader.AddMemoryDump(image, Path.Combine(dir, "pages.dump"), Path.Combine(dir, "pages.addr"));
    byte[] trace = File.ReadAllBytes(Path.Combine(dir, "trace.pt"));
    var buffer = new ArrayBufferWriter<byte>();
    var sink = new PtxedTextSink(buffer);
    var summary = PtFlowSession.Decode(trace, image, PtFlowConfig.ForCpu(f, m), ref sink);
    using var stdout = Console.OpenStandardOutput();
    stdout.Write(buffer.WrittenSpan);
    Console.Error.WriteLine($"insn: {summary.Instructions}. blocks: {summary.Blocks} events: {summary.Events} errors: {summary.Errors}");
    return 0;
}
Console.Error.WriteLine("usage: text DIR [F/M]");
return 1;
