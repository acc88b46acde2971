using System.Buffers;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// One line per control transfer, like <c>perf script -F +flags</c>: time, thread, <c>FROM -> TO</c> and the kind:
/// call, return, jcc, jmp, syscall and other far transfers by name, async (interrupts, signals, faults), trace begin
/// and trace end (TO or FROM 0 where tracing was off). Not-taken conditional branches are not listed.
/// </summary>
internal sealed class BranchesFormatter(IBufferWriter<byte> output) : FlowFormatter(output)
{
    private PtInsn _pending;
    private bool _hasPending;

    public override void Block(in PtBlock block)
    {
        Resolve(block.Ip);
        PtInsn last = block.Last;
        _hasPending = last.Class != PtInsnClass.Other;
        if (_hasPending) _pending = last;
    }

    private void Resolve(ulong to)
    {
        if (!_hasPending) return;
        _hasPending = false;
        if (_pending.Class == PtInsnClass.CondJump && to == _pending.NextIp) return;   // not taken
        Line(_pending.Ip, to, BranchKinds.Of(_pending), "");
    }


    private void Line(ulong from, ulong to, string kind, string suffix)
    {
        Span<byte> span = Output.GetSpan(128);
        int n = Time(span);
        span[n++] = (byte)' ';
        n += RightAligned(span[n..], Context.Tid, 7);
        n += Text(span[n..], "  "u8);
        n += Hex16(span[n..], from);
        n += Text(span[n..], " -> "u8);
        n += Hex16(span[n..], to);
        span[n++] = (byte)' ';
        n += Text(span[n..], kind);
        n += Text(span[n..], suffix);
        span[n++] = (byte)'\n';
        Output.Advance(n);
    }

    public override void Event(in PtEvent ev, long fileOffset)
    {
        if (ev.StatusUpdate) return;
        switch (ev.Type)
        {
            case PtEventType.Enabled:
                _hasPending = false;
                Line(0, ev.Ip, "trace begin", "");
                break;
            case PtEventType.Disabled:
                // The branch that left traced code (a syscall in user-only tracing): it ends the trace.
                if (_hasPending) Line(_pending.Ip, ev.IpSuppressed ? 0 : ev.Ip, BranchKinds.Of(_pending), ", trace end");
                _hasPending = false;
                break;
            case PtEventType.AsyncDisabled:
                _hasPending = false;
                Line(ev.From, ev.IpSuppressed ? 0 : ev.Ip, "async", ", trace end");
                break;
            case PtEventType.AsyncBranch:
                Resolve(ev.From);
                Line(ev.From, ev.IpSuppressed ? 0 : ev.Ip, "async", "");
                break;
            case PtEventType.Overflow:
                _hasPending = false;
                Line(0, ev.IpSuppressed ? 0 : ev.Ip, "overflow", "");
                break;
        }
    }

    public override void Error(PtFlowErrorKind kind, long fileOffset, ulong ip, PtFlowError error)
    {
        _hasPending = false;
        base.Error(kind, fileOffset, ip, error);
    }

    public override void Gap() => _hasPending = false;
}
