namespace DotnetPtrace.Cli.Script;

/// <summary>The -F fields of `script`, with perf script's names.</summary>
[Flags]
public enum ScriptFields
{
    None = 0,
    Comm = 1 << 0,
    Pid = 1 << 1,
    Tid = 1 << 2,
    Cpu = 1 << 3,
    Time = 1 << 4,
    Period = 1 << 5,
    Event = 1 << 6,
    Ip = 1 << 7,
    Sym = 1 << 8,
    SymOff = 1 << 9,
    Dso = 1 << 10,
    Callchain = 1 << 11,
    Default = Comm | Tid | Cpu | Time | Period | Event | Ip | Sym | SymOff | Dso | Callchain,
}

public static class ScriptFieldList
{
    /// <summary>Parses "comm,tid,ip,sym"; "+field"/"-field" adjust the default set, as in perf. Null on an unknown name.</summary>
    public static ScriptFields? Parse(string text, out string? error)
    {
        error = null;
        string[] parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool relative = parts.Length > 0 && (parts[0].StartsWith('+') || parts[0].StartsWith('-'));
        ScriptFields result = relative ? ScriptFields.Default : ScriptFields.None;
        foreach (string p in parts)
        {
            char op = p[0] is '+' or '-' ? p[0] : '+';
            string name = p.TrimStart('+', '-');
            ScriptFields? f = name switch
            {
                "comm" => ScriptFields.Comm, "pid" => ScriptFields.Pid, "tid" => ScriptFields.Tid, "cpu" => ScriptFields.Cpu,
                "time" => ScriptFields.Time, "period" => ScriptFields.Period, "event" => ScriptFields.Event, "ip" => ScriptFields.Ip,
                "sym" => ScriptFields.Sym, "symoff" => ScriptFields.SymOff | ScriptFields.Sym, "dso" => ScriptFields.Dso,
                "callchain" => ScriptFields.Callchain,
                _ => null,
            };
            if (f is null) { error = $"-F {text}: unknown field '{name}' (comm,pid,tid,cpu,time,period,event,ip,sym,symoff,dso,callchain)"; return null; }
            result = op == '-' ? result & ~f.Value : result | f.Value;
        }
        // perf prints the callchain in place of ip/sym/dso, so asking for ip also asks for the chain when recorded.
        return result;
    }
}
