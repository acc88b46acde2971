using System.CommandLine;
using DotnetPtrace.Cli;
using DotnetPtrace.Cli.Record;
using DotnetPtrace.Cli.Dump;
using DotnetPtrace.Cli.Script;
using DotnetPtrace.Cli.Report;

var root = new RootCommand("dotnet-ptrace: record and decode Linux perf events and Intel PT traces")
{
    RecordCommand.Create(),
    DumpCommand.Create(),
    ScriptCommand.Create(),
    ReportCommand.Create(),
    DotnetPtrace.Cli.Decode.DecodeCommand.Create(),
    DotnetPtrace.Cli.Trace.TraceCommand.Create(),
};

using var signals = new TerminationSignals();
var parse = root.Parse(args);
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, signals.Token);
