using System.CommandLine;

namespace DotnetPtrace.Cli.Dump;

/// <summary>The -i/--input option shared by dump, script and report: a perf.data path, or "-" for stdin.</summary>
public static class InputOption
{
    public static Option<string> Create() => new("--input", "-i")
    {
        Description = "perf.data to read; '-' reads a pipe-mode stream from stdin",
        DefaultValueFactory = _ => "perf.data",
        HelpName = "FILE",
    };

    /// <summary>The one-line error for a read that stopped at damage: the file, the offset and why.</summary>
    public static string Describe(string command, string input, DotnetPtrace.Decoders.PerfData.Reading.ReadError error) =>
        $"dotnet-ptrace {command}: {(input == "-" ? "stdin" : input)}: at offset 0x{error.Offset:x}: {error.Message}";

    public static bool CanOpen(string command, string input)
    {
        if (input == "-" || File.Exists(input)) return true;
        Console.Error.WriteLine($"dotnet-ptrace {command}: {input}: no such file");
        return false;
    }
}
