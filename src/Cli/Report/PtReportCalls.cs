using System.Buffers;
using System.Globalization;
using DotnetPtrace.Cli.Decode;
using DotnetPtrace.Decoders.Calls;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// The functions of the code a stream runs, from the mapped files' symbols at the trace's current point (mappings
/// follow the sideband), for call reconstruction and for naming frames.
/// </summary>
internal sealed class StreamFunctions(MappingSymbols symbols) : IFunctionResolver
{
    private readonly Dictionary<(string Path, ulong Offset), string> _unnamed = [];
    public StreamContext Context { get; set; } = null!;

    public bool TryGetFunction(ulong ip, out ulong start, out ulong end)
    {
        start = end = 0;
        return Context.MappingAt(ip) is { } map && symbols.TryFindFunction(map, ip, out _, out start, out end);
    }

    /// <summary>The function's name; without a symbol, the file and offset (or the address outside any mapping).</summary>
    public string NameOf(ulong ip)
    {
        CodeMapping? map = Context.MappingAt(ip);
        if (map is not null && symbols.TryFindFunction(map, ip, out string name, out _, out _)) return name;
        var key = (map?.Path ?? "", map is null ? ip : ip - map.Start + map.PgOff);
        if (!_unnamed.TryGetValue(key, out string? text))
        {
            text = map is null
                ? string.Create(CultureInfo.InvariantCulture, $"[unknown] 0x{ip:x}")
                : string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(map.Path)}+0x{key.Item2:x}");
            _unnamed[key] = text;
        }
        return text;
    }
}

/// <summary>
/// Turns what a stream decodes into each thread's calls: one <see cref="CallStackReconstructor"/> per thread, fed
/// with the blocks, events, errors and gaps the selection lets through, stamped with perf time (or, in a trace
/// without time, the thread's instruction count, so order still shows). In a per-CPU stream a thread's frames are
/// closed when another thread comes on the CPU (the rest of its calls may be in another CPU's stream).
/// </summary>
internal abstract class PtCallFormatter(IBufferWriter<byte> output, MappingSymbols symbols, SidebandModel sideband) : FlowFormatter(output)
{
    private readonly Dictionary<int, CallStackReconstructor> _threads = [];
    private readonly Dictionary<int, ulong[]> _execTimes = [];
    private CallStackReconstructor? _current;
    private int _tid = int.MinValue;

    protected StreamFunctions Functions { get; } = new(symbols);
    /// <summary>The message of the error being reported to the sinks now.</summary>
    protected string? ErrorMessage { get; private set; }

    /// <summary>A new thread was seen in the stream: where its calls go.</summary>
    protected abstract ICallSink CreateSink(int tid);

    public override void Begin(StreamContext context)
    {
        Functions.Context = context;
        base.Begin(context);
    }

    private ulong Now(CallStackReconstructor r) => Context.HasTime ? Context.Time : r.Instructions;

    private CallStackReconstructor Current()
    {
        if (Context.Tid == _tid && _current is not null) return _current;
        if (Context.Key.PerCpu) _current?.End();
        _tid = Context.Tid;
        if (!_threads.TryGetValue(_tid, out _current))
            _threads[_tid] = _current = new CallStackReconstructor(CreateSink(_tid), Functions);
        return _current;
    }

    public override void Block(in PtBlock block)
    {
        CallStackReconstructor r = Current();
        r.Block(block, Now(r));
    }

    public override void Event(in PtEvent ev, long fileOffset)
    {
        if (_current is null) return;   // nothing happened yet in this thread: no frames to affect
        CallStackReconstructor r = Current();
        // Tracing resumes after an execve: the new program starts from nothing (without time, an exec cannot be
        // placed, and the new program shows inside the old one's execve call).
        if (ev.Type == PtEventType.Enabled && !ev.StatusUpdate && Context.HasTime && ExecBetween(Context.Pid, r.Time, Context.Time)) r.Exec();
        r.Event(ev, Now(r));
    }

    private bool ExecBetween(int pid, ulong after, ulong upTo)
    {
        if (!_execTimes.TryGetValue(pid, out ulong[]? times))
        {
            times = sideband.HistoryOf(pid) is { } h ? [.. h.Changes.Where(c => c.Kind == AddressSpaceChangeKind.Exec).Select(c => c.Time).Order()] : [];
            _execTimes[pid] = times;
        }
        if (times.Length == 0) return false;
        int i = Array.BinarySearch(times, after + 1);
        if (i < 0) i = ~i;
        return i < times.Length && times[i] <= upTo;
    }

    public override void Error(PtFlowErrorKind kind, long fileOffset, ulong ip, PtFlowError error)
    {
        ErrorMessage = string.Create(CultureInfo.InvariantCulture, $"{(kind == PtFlowErrorKind.Sync ? "sync error" : "error")} at 0x{fileOffset:x}: {PtFlowErrors.Message(error)}");
        CallStackReconstructor r = Current();
        r.Error(ip, Context.HasTime ? Context.Time : r.Instructions);
        ErrorMessage = null;
    }

    public override void Gap()
    {
        foreach (CallStackReconstructor r in _threads.Values) r.Gap();
    }

    public override void End()
    {
        foreach (CallStackReconstructor r in _threads.Values) r.End();
        Finish();
    }

    /// <summary>The stream is done and every frame closed.</summary>
    protected virtual void Finish() { }

    /// <summary>Every thread seen so far, by tid.</summary>
    protected IEnumerable<int> Tids => _threads.Keys;
}
