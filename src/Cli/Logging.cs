using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace DotnetPtrace.Cli;

/// <summary>Diagnostics go to stderr (data may be on stdout); -v/-vv raise the level, -q lowers it.</summary>
public static class Logging
{
    public static ILoggerFactory Create(int verbosity, bool quiet)
    {
        var level = quiet ? LogLevel.Error : verbosity switch { 0 => LogLevel.Warning, 1 => LogLevel.Information, _ => LogLevel.Debug };
        return LoggerFactory.Create(b => b
            .SetMinimumLevel(level)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => { o.SingleLine = true; o.IncludeScopes = false; o.TimestampFormat = null; }));
    }
}
