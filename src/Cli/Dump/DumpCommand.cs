using System.CommandLine;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// `dotnet-ptrace dump`: every record with its offset, like `perf report -D`. Options are built here and read into
/// a <see cref="DumpOptions"/>; adding an option means one line in each place.
/// </summary>
public static class DumpCommand
{
    public static Command Create()
    {
        var input = InputOption.Create();
        var header = new Option<bool>("--header") { Description = "Print the header and its features (like perf report --header-only), not the records" };
        var stats = new Option<bool>("--stats") { Description = "Print record counts per type (like perf report --stats) after the records" };
        var pt = new Option<string?>("--pt") { Description = "Dump the Intel PT packets of a raw trace file (libipt ptdump's layout) instead of a perf.data", HelpName = "FILE" };
        var aux = new Option<bool>("--aux") { Description = "Dump the Intel PT packets of every AUX stream in the perf.data (per CPU or thread)" };
        var lastIp = new Option<bool>("--lastip") { Description = "PT: show the full IP after each TIP/FUP" };
        var time = new Option<bool>("--time") { Description = "PT: show the estimated TSC after each timing packet" };
        var noPad = new Option<bool>("--no-pad") { Description = "PT: hide PAD packets" };
        var execMode = new Option<bool>("--exec-mode") { Description = "PT: show the execution mode after each MODE.Exec" };
        var raw = new Option<bool>("--raw") { Description = "PT: show each packet's bytes" };
        var offsetFrom = new Option<long>("--offset-from") { Description = "PT: start at this byte of the --pt file", HelpName = "N" };
        var mtcFreq = new Option<int>("--mtc-freq") { Description = "PT timing: the recording's MTC frequency (IA32_RTIT_CTL.MTCFreq); --aux reads it from the file" };
        var cpuidEax = new Option<uint>("--cpuid-0x15.eax") { Description = "PT timing: CPUID.15H:EAX, the TSC:CTC ratio's denominator; --aux reads it from the file" };
        var cpuidEbx = new Option<uint>("--cpuid-0x15.ebx") { Description = "PT timing: CPUID.15H:EBX, the TSC:CTC ratio's numerator; --aux reads it from the file" };
        var nomFreq = new Option<uint>("--nom-freq") { Description = "PT timing: the nominal core:bus ratio (max non-turbo); --aux reads it from the file" };
        var command = new Command("dump", "Print every record of a perf.data file with its offset, type and fields, or the packets of Intel PT data")
        {
            input, header, stats, pt, aux, lastIp, time, noPad, execMode, raw, offsetFrom, mtcFreq, cpuidEax, cpuidEbx, nomFreq,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(pt) is not null && r.GetValue(aux)) r.AddError("--pt dumps a raw PT file and --aux the PT streams of a perf.data: give one");
        });
        command.SetAction((ParseResult r) =>
        {
            var ptOptions = new PtDump.PtDumpOptions
            {
                LastIp = r.GetValue(lastIp), Time = r.GetValue(time), NoPad = r.GetValue(noPad), ExecMode = r.GetValue(execMode),
                Raw = r.GetValue(raw), OffsetFrom = r.GetValue(offsetFrom), MtcFreq = r.GetValue(mtcFreq),
                CpuidEax = r.GetValue(cpuidEax), CpuidEbx = r.GetValue(cpuidEbx), NomFreq = r.GetValue(nomFreq),
            };
            if (r.GetValue(pt) is { } ptFile) return PtDump.PtDumpCommand.Run(ptFile, ptOptions, Console.Out, Console.Error);
            if (r.GetValue(aux))
            {
                string file = r.GetValue(input)!;
                if (!InputOption.CanOpen("dump", file)) return ReturnCode.UsageError;
                return AuxStreamDumper.Run(file, PtDump.PtDumpCommand.ToPrinterOptions(ptOptions), Console.Out);
            }
            return new DumpRunner(new DumpOptions
            {
                Input = r.GetValue(input)!,
                HeaderOnly = r.GetValue(header),
                Stats = r.GetValue(stats),
            }).Run();
        });
        return command;
    }
}

public sealed record DumpOptions
{
    public required string Input { get; init; }
    public bool HeaderOnly { get; init; }
    public bool Stats { get; init; }
}
