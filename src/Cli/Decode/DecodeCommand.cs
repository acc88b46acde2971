using System.CommandLine;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// `dotnet-ptrace decode --pt FILE`: the instruction flow of a raw Intel PT trace against the code it ran (raw files,
/// ELF files, memory dumps), as libipt's ptxed prints it. Options are built here and read into a
/// <see cref="DecodeOptions"/>.
/// </summary>
public static class DecodeCommand
{
    public static Command Create()
    {
        var pt = new Option<string>("--pt") { Description = "The raw Intel PT trace to decode", HelpName = "FILE", Required = true };
        var image = new Option<string[]>("--image")
        {
            Description = "Load FILE's bytes (OFFSET, SIZE: a part of it) at address ADDR; repeatable",
            HelpName = "FILE:ADDR[:OFFSET-SIZE]",
        };
        var elf = new Option<string[]>("--elf") { Description = "Load an ELF file's PT_LOAD segments (at ADDR if given); repeatable", HelpName = "FILE[:ADDR]" };
        var memdump = new Option<string[]>("--memdump")
        {
            Description = "Load a memory dump: 4 KiB pages and the little-endian u64 address of each; repeatable",
            HelpName = "PAGES.dump:PAGES.addr",
        };
        var cpu = new Option<string>("--cpu")
        {
            Description = "The CPU the trace was recorded on, for its errata (e.g. 6/94); none by default",
            HelpName = "FAMILY/MODEL",
            DefaultValueFactory = _ => "none",
        };
        var format = new Option<DecodeFormat>("--format")
        {
            Description = "insn: address and disassembly; addresses: ptxed --no-inst lines; branches: from -> to and kind; events: events and errors only",
            DefaultValueFactory = _ => DecodeFormat.Insn,
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print no flow (errors still count); with --stat, only the counts" };
        var stat = new Option<bool>("--stat") { Description = "Print the counts at the end: instructions, blocks, events, errors, gaps" };
        var command = new Command("decode", "Decode Intel PT into the instruction flow: instructions, events and errors, as libipt's ptxed")
        {
            pt, image, elf, memdump, cpu, format, quiet, stat,
        };
        command.SetAction((ParseResult r) => new DecodeRunner(new DecodeOptions
        {
            Trace = r.GetValue(pt)!,
            Images = r.GetValue(image) ?? [],
            Elves = r.GetValue(elf) ?? [],
            MemoryDumps = r.GetValue(memdump) ?? [],
            Cpu = r.GetValue(cpu)!,
            Format = r.GetValue(format),
            Quiet = r.GetValue(quiet),
            Stat = r.GetValue(stat),
        }).Run(Console.OpenStandardOutput(), Console.Error));
        return command;
    }
}

public enum DecodeFormat
{
    Insn,
    Addresses,
    Branches,
    Events,
}

public sealed record DecodeOptions
{
    public required string Trace { get; init; }
    public IReadOnlyList<string> Images { get; init; } = [];
    public IReadOnlyList<string> Elves { get; init; } = [];
    public IReadOnlyList<string> MemoryDumps { get; init; } = [];
    public string Cpu { get; init; } = "none";
    public DecodeFormat Format { get; init; } = DecodeFormat.Insn;
    public bool Quiet { get; init; }
    public bool Stat { get; init; }
}
