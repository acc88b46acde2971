using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>Why a live decoder left out a range of a stream.</summary>
public enum LiveSkipReason : byte
{
    /// <summary>The decoder fell behind: its undecoded bytes passed the bound, so it jumped to the newest PSB.</summary>
    Behind,
    /// <summary>The bytes never reached the decoder: dropped on the way while it was behind, or lost before the
    /// recording saw them (a hole between AUX offsets).</summary>
    NotReceived,
}

/// <summary>
/// A range of one stream's trace, in AUX offsets [<see cref="From"/>, <see cref="To"/>), that was not decoded.
/// <see cref="To"/> is a PSB where decoding resumed (a cut point: its PSB+ carries the IP), or the end of the stream.
/// </summary>
public readonly record struct LiveSkip(StreamKey Stream, ulong From, ulong To, LiveSkipReason Reason)
{
    public ulong Bytes => To - From;
}

/// <summary>Where one live stream's decoded flow goes: the flow itself, plus the seams between its pieces.</summary>
public interface ILiveStreamSink : IPtTimedFlowSink
{
    /// <summary>Decoding starts afresh (the stream's first bytes, or after a skip or a hole): nothing before carries over.</summary>
    void StartSegment(bool first);

    /// <summary>A range of the stream was not decoded; called before the flow after it.</summary>
    void Skipped(in LiveSkip skip);

    /// <summary>A window was decoded: everything before AUX offset <paramref name="upTo"/> is out (a point to flush).</summary>
    void Decoded(ulong upTo);
}
