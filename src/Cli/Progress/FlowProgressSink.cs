using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Progress;

/// <summary>
/// Passes a PT flow on to <typeparamref name="TSink"/> unchanged and tells the progress line how far into the trace
/// decoding is, at each event (a PSB+ at least every few KB of trace): one store, no allocation, nothing per block.
/// </summary>
public struct FlowProgressSink<TSink>(TSink inner, ProgressLine? progress, long baseOffset = 0) : IPtFlowSink where TSink : IPtFlowSink
{
    private TSink _inner = inner;

    public void OnBlock(in PtBlock block) => _inner.OnBlock(block);

    public void OnEvent(in PtEvent ev, long offset)
    {
        progress?.Update(baseOffset + offset);
        _inner.OnEvent(ev, offset);
    }

    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) => _inner.OnError(kind, offset, ip, error);

    public void OnEndOfTrace() => _inner.OnEndOfTrace();
}
