namespace DotnetPtrace.Cli.Report;

/// <summary>
/// ANSI colours for the report on a terminal, as perf colours percentages (red from 5%, green from 0.5%). Only
/// when stdout is a terminal and NO_COLOR is unset (https://no-color.org), so redirected text stays plain and
/// identical to perf's.
/// </summary>
public sealed class TerminalColour(bool enabled)
{
    private const string Red = "\e[31m", Green = "\e[32m", Bold = "\e[1m", Dim = "\e[2m", Reset = "\e[0m";

    public bool Enabled { get; } = enabled;

    public static bool StdoutWantsColour() =>
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary><paramref name="text"/> in the colour perf gives <paramref name="percent"/>.</summary>
    public string Percent(double percent, string text) =>
        !Enabled ? text : percent >= 5 ? Red + text + Reset : percent >= 0.5 ? Green + text + Reset : text;

    public string Strong(string text) => Enabled ? Bold + text + Reset : text;

    public string Faint(string text) => Enabled ? Dim + text + Reset : text;
}
