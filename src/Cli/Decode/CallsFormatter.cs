using System.Buffers;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// The call trace: a line per call (<c>-> callee</c>) and per return (<c>&lt;- the function returned to</c>), indented
/// by call depth, with time and thread, like <c>perf script --call-ret-trace</c>. Depth starts at 0 where decoding
/// starts or resumes (it cannot know the frames above), and never goes below it.
/// </summary>
internal sealed class CallsFormatter(IBufferWriter<byte> output, MappingSymbols symbols) : FlowFormatter(output)
{
    private const int MaxIndent = 64;
    private PtInsn _pending;
    private bool _hasPending, _start = true;
    private int _depth, _tid = int.MinValue;

    public override void Block(in PtBlock block)
    {
        if (Context.Tid != _tid)
        {
            _tid = Context.Tid;
            _depth = 0;
            _start = true;
        }
        if (_start)
        {
            _start = false;
            Line("=> ", block.Ip);
        }
        else if (_hasPending)
        {
            if (_pending.Class == PtInsnClass.Call && block.Ip != _pending.NextIp)
            {
                Line("-> ", block.Ip);
                _depth++;
            }
            else if (_pending.Class == PtInsnClass.Return)
            {
                _depth = Math.Max(0, _depth - 1);
                Line("<- ", block.Ip);
            }
        }
        PtInsn last = block.Last;
        _hasPending = last.Class is PtInsnClass.Call or PtInsnClass.Return;
        if (_hasPending) _pending = last;
    }

    private void Line(string arrow, ulong ip)
    {
        Span<byte> span = Output.GetSpan(512);
        int n = Time(span);
        span[n++] = (byte)' ';
        n += RightAligned(span[n..], Context.Tid, 7);
        span[n++] = (byte)' ';
        int indent = 2 * Math.Min(_depth, MaxIndent);
        span.Slice(n, indent).Fill((byte)' ');
        n += indent;
        n += Text(span[n..], arrow);
        if (Context.MappingAt(ip) is { } map && symbols.TryFind(map, ip, out string name, out ulong off))
        {
            n += Text(span[n..], name.Length > 200 ? name[..200] : name);
            if (off != 0)
            {
                n += Text(span[n..], "+0x");
                n += Hex(span[n..], off);
            }
            span[n++] = (byte)' ';
        }
        span[n++] = (byte)'(';
        n += Hex(span[n..], ip);
        span[n++] = (byte)')';
        span[n++] = (byte)'\n';
        Output.Advance(n);
    }

    public override void Event(in PtEvent ev, long fileOffset)
    {
        // An interrupt or signal leaves the call structure; the next block is where it went.
        if (!ev.StatusUpdate && ev.Type is PtEventType.AsyncBranch or PtEventType.Overflow) _hasPending = false;
    }

    public override void Error(PtFlowErrorKind kind, long fileOffset, ulong ip, PtFlowError error)
    {
        base.Error(kind, fileOffset, ip, error);
        Gap();
    }

    public override void Gap()
    {
        _hasPending = false;
        _start = true;
        _depth = 0;
    }
}
