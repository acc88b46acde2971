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
        int n = Decimal(dest, t / 1_000_000_000);
        dest[n++] = (byte)'.';
        Utf8Formatter.TryFormat(t % 1_000_000_000, dest[n..], out int m, new StandardFormat('D', 9));
        return n + m;
    }

    // Per-line numbers go through Utf8Formatter, not interpolated Utf8.TryWrite: the same bytes, and no boxing while
    // the interpolation handler's generic code still runs unoptimised (the first lines of a run, before tier-1).

    protected static int Decimal(Span<byte> dest, ulong value)
    {
        Utf8Formatter.TryFormat(value, dest, out int n);
        return n;
    }

    protected static int Decimal(Span<byte> dest, long value)
    {
        Utf8Formatter.TryFormat(value, dest, out int n);
        return n;
    }

    /// <summary><paramref name="value"/> right-aligned in <paramref name="width"/> columns, as <c>{value,width}</c> prints it.</summary>
    protected static int RightAligned(Span<byte> dest, int value, int width)
    {
        Span<byte> digits = stackalloc byte[11];
        Utf8Formatter.TryFormat(value, digits, out int d);
        int pad = Math.Max(0, width - d);
        dest[..pad].Fill((byte)' ');
        digits[..d].CopyTo(dest[pad..]);
        return pad + d;
    }

    /// <summary>Literal ASCII/UTF-8 text (a u8 literal).</summary>
    protected static int Text(Span<byte> dest, ReadOnlySpan<byte> utf8)
    {
        utf8.CopyTo(dest);
        return utf8.Length;
    }

    protected void Line(ReadOnlySpan<byte> text)
    {
        text.CopyTo(Output.GetSpan(text.Length));
        Output.Advance(text.Length);
    }
}
