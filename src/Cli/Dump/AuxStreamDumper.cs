using System.Buffers.Binary;
using System.Globalization;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.IntelPt;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// `dump -i perf.data --aux`: the Intel PT packets of every AUX stream in a perf.data, in ptdump's layout. The
/// AUXTRACE chunks of one buffer (idx: one per CPU, or per thread) are joined in order before decoding, because a
/// packet may straddle two chunks; offsets are positions in that stream, as the AUXTRACE records number them.
/// Timing (--time) uses the recording's own configuration: the MTC frequency from the intel_pt attr's config, the
/// TSC:CTC ratio and nominal ratio from AUXTRACE_INFO; options given on the command line win.
/// </summary>
public static class AuxStreamDumper
{
    private sealed class Stream(uint idx, uint cpu, uint tid)
    {
        public uint Idx { get; } = idx;
        public uint Cpu { get; } = cpu;
        public uint Tid { get; } = tid;
        public MemoryStream Bytes { get; } = new();
        public int Chunks { get; set; }
    }

    /// <summary>The recording's timing configuration, where the user gave none.</summary>
    private static PtTimingConfig FromRecording(PtTimingConfig given, IntelPtAuxtraceInfo info, ulong config) => given with
    {
        MtcFreq = given.MtcFreq != 0 ? given.MtcFreq : info.MtcFreqOf(config),
        CtcRatioNumerator = given.CtcRatioNumerator != 0 ? given.CtcRatioNumerator : info.TscCtcNumerator,
        CtcRatioDenominator = given.CtcRatioDenominator != 0 ? given.CtcRatioDenominator : info.TscCtcDenominator,
        NominalFrequency = given.NominalFrequency != 0 ? given.NominalFrequency : (uint)info.MaxNonTurboRatio,
    };

    public static int Run(string input, PtDumpPrinterOptions printerOptions, TextWriter output)
    {
        if (input == "-")
        {
            Console.Error.WriteLine("dotnet-ptrace dump: --aux needs a file: the AUX payloads of a pipe cannot be read back (save it first)");
            return ReturnCode.UsageError;
        }
        var streams = new SortedDictionary<uint, Stream>();
        IntelPtAuxtraceInfo? info = null;
        ulong ptConfig = 0;
        using (var reader = PerfDataReader.Open(input))
        using (var file = File.OpenHandle(input))
        {
            while (reader.TryRead(out PerfRecord record))
            {
                if (record.Header.Type == PerfRecordType.AuxtraceInfo) info ??= IntelPtAuxtraceInfo.TryParse(record.Bytes);
                if (record.Header.Type != PerfRecordType.Auxtrace) continue;
                ReadOnlySpan<byte> r = record.Bytes;
                uint idx = BinaryPrimitives.ReadUInt32LittleEndian(r[32..]);
                if (!streams.TryGetValue(idx, out var stream))
                    streams[idx] = stream = new Stream(idx, BinaryPrimitives.ReadUInt32LittleEndian(r[40..]), BinaryPrimitives.ReadUInt32LittleEndian(r[36..]));
                var payload = new byte[record.AuxPayloadSize];
                RandomAccess.Read(file, payload, record.AuxPayloadOffset);
                stream.Bytes.Write(payload);
                stream.Chunks++;
            }
            if (reader.Error is { } error)
                Console.Error.WriteLine(InputOption.Describe("dump", input, error));
            if (info is not null && reader.Attrs.Attrs.FirstOrDefault(a => a.Attr.Type == info.PmuType) is { } pt) ptConfig = pt.Attr.Config;
        }
        if (info is not null) printerOptions = printerOptions with { Timing = FromRecording(printerOptions.Timing, info, ptConfig) };
        int errors = 0;
        foreach (var stream in streams.Values)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"# AUX stream idx {stream.Idx}, cpu {(int)stream.Cpu}, tid {(int)stream.Tid}: {stream.Bytes.Length} bytes in {stream.Chunks} AUXTRACE records"));
            errors += new PtDumpPrinter(output, printerOptions).Dump(stream.Bytes.GetBuffer().AsSpan(0, (int)stream.Bytes.Length));
        }
        output.Flush();
        if (streams.Count == 0) Console.Error.WriteLine($"dotnet-ptrace dump: {input} has no AUX data (PERF_RECORD_AUXTRACE)");
        if (errors > 0) Console.Error.WriteLine($"dotnet-ptrace dump: {errors} decoding error(s); each is shown in the output as [offset: ...]");
        return ReturnCode.Ok;
    }
}
