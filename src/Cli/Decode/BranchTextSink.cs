using System.Buffers;
using System.Text.Unicode;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// One line per control transfer, like <c>perf script -F +flags</c>: <c>FROM -> TO KIND</c> for every taken branch
/// (call, return, jcc, jmp, far transfers by name), <c>async</c> for interrupts, and <c>trace begin</c> /
/// <c>trace end</c> where tracing is enabled or disabled. Not-taken conditional branches are not listed.
/// </summary>
public sealed class BranchTextSink(IBufferWriter<byte> output) : IPtFlowSink
{
    private readonly PtxedTextSink _text = new(output);
    private PtInsn _pending;
    private bool _hasPending;

    public void OnBlock(in PtBlock block)
    {
        Resolve(block.Ip);
        PtInsn last = block.Last;
        if (last.Class != PtInsnClass.Other)
        {
            _pending = last;
            _hasPending = true;
        }
    }

    private void Resolve(ulong to)
    {
        if (!_hasPending) return;
        _hasPending = false;
        // A conditional branch that fell through was not taken.
        if (_pending.Class == PtInsnClass.CondJump && to == _pending.NextIp) return;
        Line(_pending.Ip, to, BranchKinds.Of(_pending));
    }


    private void Line(ulong from, ulong to, string kind)
    {
        Span<byte> span = output.GetSpan(64);
        Utf8.TryWrite(span, $"{from:x16} -> {to:x16} {kind}\n", out int n);
        output.Advance(n);
    }

    public void OnEvent(in PtEvent ev, long offset)
    {
        if (ev.StatusUpdate) return;
        switch (ev.Type)
        {
            case PtEventType.Enabled:
                _hasPending = false;
                Line(0, ev.Ip, "trace begin");
                break;
            case PtEventType.Disabled:
                if (_hasPending) Line(_pending.Ip, ev.IpSuppressed ? 0 : ev.Ip, "trace end");
                _hasPending = false;
                break;
            case PtEventType.AsyncDisabled:
                _hasPending = false;
                Line(ev.From, ev.IpSuppressed ? 0 : ev.Ip, "trace end");
                break;
            case PtEventType.AsyncBranch:
                Resolve(ev.From);
                Line(ev.From, ev.IpSuppressed ? 0 : ev.Ip, "async");
                break;
            case PtEventType.Overflow:
                _hasPending = false;
                _text.OnEvent(ev, offset);
                break;
        }
    }

    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error)
    {
        _hasPending = false;
        _text.OnError(kind, offset, ip, error);
    }

    public void OnEndOfTrace() => _text.OnEndOfTrace();
}
