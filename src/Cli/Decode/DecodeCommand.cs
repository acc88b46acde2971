using System.CommandLine;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// `dotnet-ptrace decode`: the instruction flow of Intel PT. Either a perf.data (`-i`, ours or Linux perf's), decoded
/// with its sideband against the binaries on this machine, or a raw trace (`--pt FILE`) against the code given as raw
/// files, ELF files or memory dumps, as libipt's ptxed prints it. Options are built here and read into a
/// <see cref="DecodeOptions"/>.
/// </summary>
public static class DecodeCommand
{
    public static Command Create()
    {
        var input = new Option<string?>("--input", "-i") { Description = "A perf.data with Intel PT (AUXTRACE), ours or Linux perf's ('-': standard input)", HelpName = "FILE" };
        var pt = new Option<string?>("--pt") { Description = "A raw Intel PT trace to decode (instead of -i)", HelpName = "FILE" };
        var image = new Option<string[]>("--image")
        {
            Description = "With --pt: load FILE's bytes (OFFSET, SIZE: a part of it) at address ADDR; repeatable",
            HelpName = "FILE:ADDR[:OFFSET-SIZE]",
        };
        var elf = new Option<string[]>("--elf") { Description = "With --pt: load an ELF file's PT_LOAD segments (at ADDR if given); repeatable", HelpName = "FILE[:ADDR]" };
        var memdump = new Option<string[]>("--memdump")
        {
            Description = "With --pt: load a memory dump: 4 KiB pages and the little-endian u64 address of each; repeatable",
            HelpName = "PAGES.dump:PAGES.addr",
        };
        var cpu = new Option<string?>("--cpu")
        {
            Description = "The CPU the trace was recorded on, for its errata (e.g. 6/94, or none); default: the perf.data's CPUID, none for --pt",
            HelpName = "FAMILY/MODEL",
        };
        var format = new Option<DecodeFormat>("--format")
        {
            Description = "insn: address, symbol and disassembly; addresses: one address a line; branches: from -> to and kind; " +
                "calls: indented calls and returns with time; json: one object a line; events: events and errors only",
            DefaultValueFactory = _ => DecodeFormat.Insn,
        };
        var tid = new Option<int?>("--tid") { Description = "-i: only this thread", HelpName = "TID" };
        var cpuStream = new Option<int?>("--cpu-stream") { Description = "-i: only the trace of this CPU (per-CPU recordings)", HelpName = "CPU" };
        var time = new Option<string?>("--time") { Description = "-i: only what ran between these perf times, in seconds (either may be left out)", HelpName = "START,END" };
        var symfs = new Option<string?>("--symfs") { Description = "-i: look for the recorded binaries under this directory", HelpName = "DIR" };
        var jobs = new Option<int?>("--jobs", "-j") { Description = "Threads: -i decodes its streams at once (default: one per CPU); --pt cuts a long trace at PSBs (default: for --format insn only)", HelpName = "N" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print no flow (errors still count); with --stat, only the counts" };
        var stat = new Option<bool>("--stat") { Description = "Print the counts at the end: instructions, blocks, events, errors, gaps" };
        var command = new Command("decode", "Decode Intel PT into the instruction flow: instructions, branches, calls, events and errors")
        {
            input, pt, image, elf, memdump, cpu, format, tid, cpuStream, time, symfs, jobs, quiet, stat,
        };
        command.SetAction((ParseResult r) =>
        {
            var options = new DecodeOptions
            {
                Input = r.GetValue(input),
                Trace = r.GetValue(pt),
                Images = r.GetValue(image) ?? [],
                Elves = r.GetValue(elf) ?? [],
                MemoryDumps = r.GetValue(memdump) ?? [],
                Cpu = r.GetValue(cpu),
                Format = r.GetValue(format),
                Tid = r.GetValue(tid),
                CpuStream = r.GetValue(cpuStream),
                Time = r.GetValue(time),
                SymFs = r.GetValue(symfs),
                Jobs = r.GetValue(jobs),
                Quiet = r.GetValue(quiet),
                Stat = r.GetValue(stat),
            };
            if (options.Input is not null && options.Trace is not null)
                return Usage("give either -i perf.data or --pt FILE, not both");
            if (options.Input is null && options.Trace is null)
                return Usage("nothing to decode: give -i perf.data, or --pt FILE with its code (--image, --elf, --memdump)");
            if (options.Input is not null)
            {
                if (options.Images.Count + options.Elves.Count + options.MemoryDumps.Count > 0)
                    return Usage("--image, --elf and --memdump go with --pt; a perf.data names its binaries itself");
                return new PerfDataDecodeRunner(options).Run(Console.OpenStandardOutput(), Console.Error);
            }
            if (options.Tid is not null || options.CpuStream is not null || options.Time is not null || options.SymFs is not null)
                return Usage("--tid, --cpu-stream, --time and --symfs need a perf.data (-i)");
            if (options.Format is DecodeFormat.Calls or DecodeFormat.Json)
                return Usage($"--format {options.Format.ToString().ToLowerInvariant()} needs a perf.data (-i)");
            return new DecodeRunner(options).Run(Console.OpenStandardOutput(), Console.Error);
        });
        return command;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"decode: {message}");
        return ReturnCode.UsageError;
    }
}

public enum DecodeFormat
{
    Insn,
    Addresses,
    Branches,
    Calls,
    Json,
    Events,
}

public sealed record DecodeOptions
{
    /// <summary>A perf.data to decode (-i).</summary>
    public string? Input { get; init; }
    /// <summary>A raw PT trace to decode (--pt).</summary>
    public string? Trace { get; init; }
    public IReadOnlyList<string> Images { get; init; } = [];
    public IReadOnlyList<string> Elves { get; init; } = [];
    public IReadOnlyList<string> MemoryDumps { get; init; } = [];
    /// <summary>FAMILY/MODEL or "none"; null: from the perf.data (none for --pt).</summary>
    public string? Cpu { get; init; }
    public DecodeFormat Format { get; init; } = DecodeFormat.Insn;
    public int? Tid { get; init; }
    public int? CpuStream { get; init; }
    public string? Time { get; init; }
    public string? SymFs { get; init; }
    public int? Jobs { get; init; }
    public bool Quiet { get; init; }
    public bool Stat { get; init; }
}
