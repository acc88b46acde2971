using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// How many events a timeline may hold, shared by the streams written in parallel: viewers (Perfetto UI,
/// chrome://tracing) fail on JSON of a few hundred MB, so a timeline stops adding slices at the cap and says so.
/// </summary>
internal sealed class TimelineBudget(long maxEvents)
{
    private long _written, _dropped;

    public long MaxEvents => maxEvents;
    public long Written => Interlocked.Read(ref _written);
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>True when one more event fits (0: no cap).</summary>
    public bool Take()
    {
        if (maxEvents <= 0 || Interlocked.Increment(ref _written) <= maxEvents)
        {
            if (maxEvents <= 0) Interlocked.Increment(ref _written);
            return true;
        }
        Interlocked.Decrement(ref _written);
        Interlocked.Increment(ref _dropped);
        return false;
    }
}

/// <summary>
/// Chrome Trace Event JSON, one event at a time into a buffer, each after ",\n" (the file's writer drops the very
/// first comma): complete slices (ph X), instants (ph i, thread scope) and metadata (ph M). Times are perf time in
/// µs written exactly from ns (three decimals), not through a double. No DOM: a <see cref="Utf8JsonWriter"/> reused
/// for every event.
/// </summary>
internal sealed class TimelineWriter
{
    private static readonly JsonEncodedText Name = JsonEncodedText.Encode("name"), Ph = JsonEncodedText.Encode("ph"),
        Ts = JsonEncodedText.Encode("ts"), Dur = JsonEncodedText.Encode("dur"), Pid = JsonEncodedText.Encode("pid"),
        Tid = JsonEncodedText.Encode("tid"), Args = JsonEncodedText.Encode("args"), Scope = JsonEncodedText.Encode("s"),
        Cat = JsonEncodedText.Encode("cat"), Insns = JsonEncodedText.Encode("insns"), Self = JsonEncodedText.Encode("self_insns"),
        Cut = JsonEncodedText.Encode("cut");
    private static readonly byte[] Separator = ",\n"u8.ToArray();

    private readonly IBufferWriter<byte> _output;
    private readonly Utf8JsonWriter _json;
    private readonly TimelineBudget _budget;

    public TimelineWriter(IBufferWriter<byte> output, TimelineBudget budget)
    {
        _output = output;
        _budget = budget;
        _json = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>
    /// A call: <paramref name="name"/> from <paramref name="startNs"/> for <paramref name="durationNs"/>;
    /// <paramref name="cut"/>: it did not end there, the trace did (or had a gap), which args.cut says.
    /// </summary>
    public void Slice(int pid, int tid, string name, ulong startNs, ulong durationNs, ulong instructions, ulong selfInstructions, bool cut)
    {
        if (!_budget.Take()) return;
        Start();
        _json.WriteString(Name, name);
        _json.WriteString(Ph, "X");
        Time(Ts, startNs);
        Time(Dur, durationNs);
        _json.WriteNumber(Pid, pid);
        _json.WriteNumber(Tid, tid);
        _json.WriteStartObject(Args);
        _json.WriteNumber(Insns, instructions);
        _json.WriteNumber(Self, selfInstructions);
        if (cut) _json.WriteBoolean(Cut, true);
        _json.WriteEndObject();
        End();
    }

    /// <summary>A point on a thread's track: a gap, an error, lost data.</summary>
    public void Instant(int pid, int tid, string category, string name, ulong timeNs)
    {
        if (!_budget.Take()) return;
        Start();
        _json.WriteString(Name, name);
        _json.WriteString(Cat, category);
        _json.WriteString(Ph, "i");
        _json.WriteString(Scope, "t");
        Time(Ts, timeNs);
        _json.WriteNumber(Pid, pid);
        _json.WriteNumber(Tid, tid);
        End();
    }

    /// <summary>A process or thread name (<paramref name="kind"/> process_name or thread_name); metadata is never cut.</summary>
    public void Metadata(string kind, int pid, int tid, string value)
    {
        Start();
        _json.WriteString(Name, kind);
        _json.WriteString(Ph, "M");
        _json.WriteNumber(Pid, pid);
        _json.WriteNumber(Tid, tid);
        _json.WriteStartObject(Args);
        _json.WriteString(Name, value);
        _json.WriteEndObject();
        End();
    }

    private void Start()
    {
        Separator.CopyTo(_output.GetSpan(Separator.Length));
        _output.Advance(Separator.Length);
        _json.Reset(_output);
        _json.WriteStartObject();
    }

    private void End()
    {
        _json.WriteEndObject();
        _json.Flush();
    }

    /// <summary>ns as µs with three decimals, exactly.</summary>
    private void Time(JsonEncodedText property, ulong ns)
    {
        Span<byte> text = stackalloc byte[32];
        Utf8Formatter.TryFormat(ns / 1000, text, out int n);
        text[n++] = (byte)'.';
        Utf8Formatter.TryFormat(ns % 1000, text[n..], out int m, new StandardFormat('D', 3));
        _json.WritePropertyName(property);
        _json.WriteRawValue(text[..(n + m)], skipInputValidation: true);
    }
}
