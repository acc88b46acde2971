using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Unicode;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// Writes what one stream of a perf.data decodes, in one output format, straight into a UTF-8 buffer. It sees only
/// what the selection (--tid, --time) lets through; <see cref="Context"/> says which thread and time it is.
/// </summary>
internal abstract class FlowFormatter(IBufferWriter<byte> output)
{
    protected IBufferWriter<byte> Output { get; } = output;
    protected StreamContext Context { get; private set; } = null!;

    /// <summary>A stream starts: every later call is about it.</summary>
    public virtual void Begin(StreamContext context)
    {
        Context = context;
        Gap();
    }

    public abstract void Block(in PtBlock block);

    public virtual void Event(in PtEvent ev, long fileOffset) { }

    /// <summary>An error, as <c>[offset, ip: error: message]</c> with the file offset of the trace byte.</summary>
    public virtual void Error(PtFlowErrorKind kind, long fileOffset, ulong ip, PtFlowError error)
    {
        Span<byte> span = Output.GetSpan(256);
        string what = kind == PtFlowErrorKind.Sync ? "sync error" : "error";
        Utf8.TryWrite(span, $"[{fileOffset:x}, {ip:x}: {what}: {PtFlowErrors.Message(error)}]\n", out int n);
        Output.Advance(n);
    }

    public virtual void EndOfTrace() { }

    /// <summary>The trace continues after a hole (a new segment): nothing before it carries over.</summary>
    public virtual void Gap() { }

    /// <summary>The stream ended.</summary>
    public virtual void End() { }

    // ---- text helpers, allocation-free ----

    protected static int Hex(Span<byte> dest, ulong value)
    {
        Utf8Formatter.TryFormat(value, dest, out int n, new StandardFormat('x'));
        return n;
    }

    protected static int Hex16(Span<byte> dest, ulong value)
    {
        Utf8Formatter.TryFormat(value, dest, out int n, new StandardFormat('x', 16));
        return n;
    }

    protected static int Text(Span<byte> dest, string text) => Encoding.UTF8.GetBytes(text, dest);

    /// <summary>Perf time as perf script prints it: seconds with nanoseconds, or "-" without time.</summary>
    protected int Time(Span<byte> dest)
    {
        if (!Context.HasTime)
        {
            dest[0] = (byte)'-';
            return 1;
        }
        ulong t = Context.Time;
        Utf8.TryWrite(dest, $"{t / 1_000_000_000}.{t % 1_000_000_000:D9}", out int n);
        return n;
    }

    protected void Line(ReadOnlySpan<byte> text)
    {
        text.CopyTo(Output.GetSpan(text.Length));
        Output.Advance(text.Length);
    }
}
