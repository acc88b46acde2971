using System.CommandLine;
using DotnetPtrace.Cli;
using DotnetPtrace.Cli.Record;

var root = new RootCommand("dotnet-ptrace: record and decode Linux perf events and Intel PT traces")
{
    RecordCommand.Create(),
};

using var signals = new TerminationSignals();
var parse = root.Parse(args);
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, signals.Token);
