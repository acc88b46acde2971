using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Cli.PtDump;

/// <summary><c>dotnet-ptrace dump --pt FILE</c>: every packet of a raw Intel PT file, one a line, in ptdump's layout.</summary>
public static class PtDumpCommand
{
    public static int Run(string ptFile, PtDumpOptions options, TextWriter output, TextWriter error)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(ptFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"dump: cannot read {ptFile}: {e.Message}");
            return ReturnCode.UsageError;
        }
        if (options.OffsetFrom < 0 || options.OffsetFrom > bytes.Length)
        {
            error.WriteLine($"dump: --offset-from {options.OffsetFrom} is outside {ptFile} ({bytes.Length} bytes)");
            return ReturnCode.UsageError;
        }

        var printer = new PtDumpPrinter(output, ToPrinterOptions(options));
        int errors = printer.Dump(bytes.AsSpan((int)options.OffsetFrom));
        output.Flush();
        if (errors > 0) error.WriteLine($"dump: {errors} decoding error(s); each is shown in the output as [offset: ...]");
        return ReturnCode.Ok;
    }

    public static PtDumpPrinterOptions ToPrinterOptions(PtDumpOptions options) => new()
    {
        ShowLastIp = options.LastIp,
        ShowTime = options.Time,
        NoPad = options.NoPad,
        ShowExecMode = options.ExecMode,
        ShowRawBytes = options.Raw,
        OffsetBase = options.OffsetFrom,
        Timing = new PtTimingConfig
        {
            MtcFreq = options.MtcFreq,
            CtcRatioDenominator = options.CpuidEax,
            CtcRatioNumerator = options.CpuidEbx,
            NominalFrequency = options.NomFreq,
        },
    };
}
