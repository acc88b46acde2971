using System.CommandLine;
using DotnetPtrace.Cli.Dump;

namespace DotnetPtrace.Cli.Script;

/// <summary>`dotnet-ptrace script`: one line per sample, as `perf script` prints them, or JSON lines.</summary>
public static class ScriptCommand
{
    public static Command Create()
    {
        var input = InputOption.Create();
        var fields = new Option<string?>("--fields", "-F") { Description = "Fields: comm,pid,tid,cpu,time,period,event,ip,sym,symoff,dso,callchain (or +f/-f on the default)", HelpName = "FIELDS" };
        var json = new Option<bool>("--json") { Description = "One JSON object per sample and line" };
        var ns = new Option<bool>("--ns") { Description = "Times with nanoseconds" };
        var command = new Command("script", "Print the samples of a perf.data file like perf script") { input, fields, json, ns };
        fields.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } v && ScriptFieldList.Parse(v, out string? e) is null) r.AddError(e!); });
        command.SetAction((ParseResult r) => new ScriptRunner(new ScriptOptions
        {
            Input = r.GetValue(input)!,
            Fields = r.GetValue(fields) is { } f ? ScriptFieldList.Parse(f, out _)!.Value : ScriptFields.Default,
            Json = r.GetValue(json),
            Nanoseconds = r.GetValue(ns),
        }).Run());
        return command;
    }
}

public sealed record ScriptOptions
{
    public required string Input { get; init; }
    public ScriptFields Fields { get; init; } = ScriptFields.Default;
    public bool Json { get; init; }
    public bool Nanoseconds { get; init; }
}
