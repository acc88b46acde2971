using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>Loads the trace and its image, decodes, prints the flow in the chosen format and the counts.</summary>
public sealed class DecodeRunner(DecodeOptions options)
{
    public int Run(Stream stdout, TextWriter stderr)
    {
        string cpu = options.Cpu ?? "none";
        if (!PtErrata.TryParseCpu(cpu, out int family, out int model, out string? cpuError))
        {
            stderr.WriteLine($"decode: {cpuError}");
            return ReturnCode.UsageError;
        }
        PtFlowConfig config = cpu == "none" ? new PtFlowConfig() : PtFlowConfig.ForCpu(family, model);
        if (cpu != "none" && !PtErrata.TryForCpu(family, model, out _))
            stderr.WriteLine($"decode: warning: no errata known for cpu {cpu}; decoding as for a CPU without any");

        byte[] trace;
        try
        {
            trace = File.ReadAllBytes(options.Trace!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"decode: cannot read {options.Trace}: {e.Message}");
            return ReturnCode.UsageError;
        }

        var image = new PtImage();
        try
        {
            foreach (string spec in options.Images) PtImageLoader.AddRawSpec(image, spec);
            foreach (string spec in options.Elves) AddElf(image, spec);
            foreach (string spec in options.MemoryDumps)
            {
                int colon = spec.LastIndexOf(':');
                if (colon <= 0 || colon == spec.Length - 1)
                {
                    stderr.WriteLine($"decode: --memdump {spec}: expected PAGES.dump:PAGES.addr");
                    return ReturnCode.UsageError;
                }
                PtImageLoader.AddMemoryDump(image, spec[..colon], spec[(colon + 1)..]);
            }
        }
        catch (PtImageException e)
        {
            stderr.WriteLine($"decode: {e.Message}");
            return ReturnCode.UsageError;
        }
        if (image.Count == 0)
            stderr.WriteLine("decode: warning: no code given (--image, --elf, --memdump): every instruction fetch will fail");

        PtFlowSummary summary;
        using (var output = new StreamBufferWriter(stdout))
        {
            summary = options.Quiet ? Decode(trace, image, config, new CountingSink())
                : options.Format switch
                {
                    DecodeFormat.Addresses => Decode(trace, image, config, new PtxedTextSink(output)),
                    DecodeFormat.Events => Decode(trace, image, config, new PtxedTextSink(output) { EventsOnly = true }),
                    DecodeFormat.Branches => Decode(trace, image, config, new BranchTextSink(output)),
                    _ => Decode(trace, image, config, new InsnTextSink(output, new PtInstructionReader(image))),
                };
            if (options.Stat)
            {
                output.Write($"insn: {summary.Instructions}.\nblocks: {summary.Blocks}.\nevents: {summary.Events}.\n" +
                    $"errors: {summary.Errors}.\ngaps: {summary.Gaps}.\noverflows: {summary.Overflows}.\n");
            }
        }
        if (summary.Errors > 0)
            stderr.WriteLine($"decode: {summary.Errors} error(s); each is in the output as [offset, ip: error: message], and decoding resumed at the next PSB");
        return ReturnCode.Ok;
    }

    private static PtFlowSummary Decode<TSink>(byte[] trace, PtImage image, PtFlowConfig config, TSink sink) where TSink : IPtFlowSink =>
        PtFlowSession.Decode(trace, image, config, ref sink);

    private static void AddElf(PtImage image, string spec)
    {
        int colon = spec.LastIndexOf(':');
        if (colon > 0 && PtImageLoader.TryNumber(spec[(colon + 1)..], out ulong address))
            PtImageLoader.AddElf(image, spec[..colon], address);
        else
            PtImageLoader.AddElf(image, spec);
    }

    private struct CountingSink : IPtFlowSink
    {
        public readonly void OnBlock(in PtBlock block) { }
        public readonly void OnEvent(in PtEvent ev, long offset) { }
        public readonly void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) { }
        public readonly void OnEndOfTrace() { }
    }
}
