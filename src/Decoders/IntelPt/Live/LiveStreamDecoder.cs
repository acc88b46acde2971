using System.Buffers;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>Counts of one live stream, all in trace bytes except where named.</summary>
public struct LiveStreamCounts
{
    /// <summary>Bytes the decoder was given (overlaps with earlier chunks, such as AUXTRACE padding, not counted twice).</summary>
    public long Received;
    /// <summary>Bytes decoded: windows done.</summary>
    public long Decoded;
    /// <summary>Bytes left out (<see cref="LiveSkip"/>), received or not.</summary>
    public long Skipped;
    public long Skips;
    public long Windows;
    public long Instructions;
    public long Errors;
    /// <summary>Windows that did not reach their end cleanly (the block at the next cut never came).</summary>
    public long Resyncs;
    /// <summary>The largest number of undecoded bytes held at once.</summary>
    public long PeakBacklog;
}

/// <summary>
/// Decodes one stream (a thread's or a CPU's trace) while it grows: AUX chunks are appended with their AUX offsets,
/// and whenever the bytes held reach past a PSB cut point and the PSB after it, everything up to that cut is decoded
/// as one window (<see cref="LiveWindowSink"/>), the rest kept for the next chunk. Windows cut at PSBs with a FUP are
/// what `decode -j` cuts a long trace at, so the flow equals a decode of the whole stream at once (the processor
/// compresses no return across a PSB, and the PSB+ restates IP, mode and time).
/// <para>
/// Falling behind: when the undecoded bytes pass <see cref="MaxBacklog"/>, or the caller asks
/// (<see cref="SkipToNewest"/>), the decoder jumps to the newest cut point and reports the range it left out. A hole
/// in the AUX offsets (bytes dropped on the way, or lost by the kernel) ends the piece before it, which is decoded to
/// its end, and decoding resumes at the first cut point after the hole; the range in between is reported.
/// </para>
/// One thread; the buffer is pooled and reused, nothing is allocated per chunk once it has grown to the backlog.
/// </summary>
public sealed class LiveStreamDecoder : IDisposable
{
    private readonly ILiveStreamSink _sink;
    private readonly PtImage _image;
    private readonly PtFlowConfig _config;
    private readonly bool _timed;
    private readonly List<LiveCut> _cuts = [];
    private readonly LiveCutFinder _finder = new();
    private readonly LiveOffsetMap _offsets = new();
    private readonly PtStopRequest _stop = new();
    private byte[] _buffer = [];
    private ulong _base;           // AUX offset of _buffer[0]
    private int _length;           // bytes held from _base
    private ulong _window;         // where the next window starts
    private int _dropBefore;       // the next window's own synchronisation ends here (window-relative; 0: keep all)
    private bool _started, _seeking;
    private ulong _seekFrom;
    private LiveSkipReason _seekReason;
    private LiveStreamCounts _counts;

    /// <param name="timed">Decode block by block with the decoder's time (as `decode` does for calls, branches, JSON).</param>
    public LiveStreamDecoder(StreamKey key, ILiveStreamSink sink, PtImage image, PtFlowConfig config, bool timed, long maxBacklog)
    {
        Key = key;
        _sink = sink;
        _image = image;
        _config = config;
        _timed = timed;
        MaxBacklog = Math.Max(maxBacklog, 64 << 10);
    }

    public StreamKey Key { get; }
    /// <summary>The most trace one window takes (more when a PSB segment is longer).</summary>
    public const long MaxWindowBytes = 64 << 10;
    /// <summary>Undecoded bytes beyond which the decoder jumps to the newest cut point.</summary>
    public long MaxBacklog { get; }
    public LiveStreamCounts Counts => _counts;
    /// <summary>Bytes held and not decoded yet.</summary>
    public long Backlog => _started ? (long)(_base + (ulong)_length - _window) : 0;
    /// <summary>The AUX offset up to which the stream has been decoded or skipped.</summary>
    public ulong DecodedTo => _window;
    /// <summary>Bytes of pooled buffer this stream holds.</summary>
    public long BufferBytes => _buffer.Length;
    private ulong End => _base + (ulong)_length;

    /// <summary>
    /// Appends a chunk of the stream that starts at AUX offset <paramref name="offset"/>, and decodes what it can;
    /// when the caller is <paramref name="behind"/> (more is queued before the decoder than it can take), it decodes
    /// nothing and jumps to the newest cut point instead.
    /// </summary>
    /// <param name="inputOffset">Where the chunk's first byte is in the input (-1: unknown), for offsets in the output.</param>
    /// <param name="decode">False: only keep the chunk; <see cref="DecodeAvailable"/> decodes it later (once the
    /// sideband that came with it is in).</param>
    public void Append(ulong offset, ReadOnlySpan<byte> data, bool behind = false, long inputOffset = -1, bool decode = true)
    {
        if (data.IsEmpty) return;
        if (!_started)
        {
            _started = true;
            _base = _window = offset;
            _finder.Reset(offset);
            _sink.StartSegment(first: true);
        }
        else if (offset > End)
        {
            // A hole: the piece before it ends here, as a recording with lost data decodes (a new segment).
            ulong holeStart = End;
            FinishPiece();
            StartSeeking(holeStart, LiveSkipReason.NotReceived);
            _base = _window = offset;
            _length = 0;
            _finder.Reset(offset);
        }
        else if (offset < End)
        {
            // The chunk starts inside what is held: the tail before it was padding (AUXTRACE payloads are rounded up
            // to 8 bytes) or bytes a snapshot repeats. What is held ends where the chunk starts, as `decode` joins them;
            // bytes already decoded are not taken back.
            ulong keepFrom = Math.Max(offset, _window);
            if (offset + (ulong)data.Length <= keepFrom) return;
            data = data[(int)(keepFrom - offset)..];
            _counts.Received -= (long)(End - keepFrom);
            _length = (int)(keepFrom - _base);
            while (_cuts.Count > 0 && _cuts[^1].PsbEnd > keepFrom) _cuts.RemoveAt(_cuts.Count - 1);
            _finder.Reset(keepFrom);
        }
        ulong at = _base + (ulong)_length;   // where the chunk's (remaining) first byte goes
        _offsets.Add(at, inputOffset < 0 ? -1 : inputOffset + (long)(at - offset));
        Store(data);
        _counts.Received += data.Length;
        _finder.Scan(_buffer.AsSpan(0, _length), _base, _cuts);
        if (_seeking)
        {
            while (_cuts.Count > 0 && _cuts[0].Psb < _seekFrom) _cuts.RemoveAt(0);
            if (_cuts.Count == 0)
            {
                KeepTail();
                return;
            }
            EndSeeking(_cuts[0]);
        }
        else DropCutsBefore(_window);
        if (decode) DecodeAvailable(behind);
        else if (Backlog > MaxBacklog) SkipToNewest(LiveSkipReason.Behind);
        _counts.PeakBacklog = Math.Max(_counts.PeakBacklog, Backlog);
    }

    /// <summary>
    /// Decodes every complete window held; when the caller is <paramref name="behind"/>, jumps to the newest cut
    /// point instead.
    /// </summary>
    public void DecodeAvailable(bool behind = false)
    {
        if (!_started || _seeking) return;
        if (behind) SkipToNewest(LiveSkipReason.Behind);
        else DecodeWindows();
        if (Backlog > MaxBacklog) SkipToNewest(LiveSkipReason.Behind);
    }

    /// <summary>While looking for a cut point: only the last bytes are kept, where a PSB+ may have been cut short.</summary>
    private void KeepTail() => Compact(End - Math.Min((ulong)_length, 512));

    /// <summary>
    /// Leaves out everything held up to the newest cut point (the caller is behind: the bytes queued before the
    /// decoder are more than it can take). Returns the bytes left out.
    /// </summary>
    public long SkipToNewest(LiveSkipReason reason = LiveSkipReason.Behind)
    {
        if (!_started || _seeking) return 0;
        int newest = _cuts.Count - 1;
        while (newest >= 0 && _cuts[newest].Psb <= _window) newest--;
        if (newest < 0)
        {
            // No cut point to jump to yet: leave out everything and take the first one that comes.
            if (Backlog == 0) return 0;
            StartSeeking(_window, reason);
            long held = Backlog;
            _window = End;
            KeepTail();
            return held;
        }
        LiveCut cut = _cuts[newest];
        long bytes = (long)(cut.Psb - _window);
        StartSeeking(_window, reason);
        EndSeeking(cut);
        Compact(_window);
        return bytes;
    }

    /// <summary>
    /// The stream ended: decodes the rest (or reports it skipped when decoding was looking for a cut). When the
    /// stream is known to have gone on to <paramref name="sentEnd"/> (chunks dropped on the way), that tail is
    /// reported as not received.
    /// </summary>
    public void Finish(ulong? sentEnd = null)
    {
        if (!_started) return;
        if (sentEnd is ulong end && end > End)
        {
            ulong tail = End;
            FinishPiece();
            StartSeeking(tail, LiveSkipReason.NotReceived);
            _base = _window = end;
            _length = 0;
        }
        if (_seeking)
        {
            Report(new LiveSkip(Key, _seekFrom, End, _seekReason));
            _seeking = false;
            _window = End;
        }
        else FinishPiece();
        Compact(End);
    }

    /// <summary>Decodes the piece held to its end (no cut: the decoder stops where the bytes do).</summary>
    private void FinishPiece()
    {
        if (_seeking || End <= _window) return;
        DecodeWindow(End, stopAt: long.MaxValue, stopIp: ulong.MaxValue, out _);
        _counts.Decoded += (long)(End - _window);
        _window = End;
        _cuts.Clear();
        _sink.Decoded(_window);
    }

    private void StartSeeking(ulong from, LiveSkipReason reason)
    {
        if (_seeking) return;
        _seeking = true;
        _seekFrom = from;
        _seekReason = reason;
    }

    /// <summary>Decoding resumes at <paramref name="cut"/>: the range before it is reported, the decode starts afresh.</summary>
    private void EndSeeking(LiveCut cut)
    {
        _seeking = false;
        Report(new LiveSkip(Key, _seekFrom, cut.Psb, _seekReason));
        _window = cut.Psb;
        _dropBefore = 0;   // a fresh start: its synchronisation is news (trace begin), as after a hole in `decode`
        DropCutsBefore(_window + 1);
        _sink.StartSegment(first: false);
    }

    private void Report(in LiveSkip skip)
    {
        if (skip.To <= skip.From) return;
        _counts.Skipped += (long)skip.Bytes;
        _counts.Skips++;
        _sink.Skipped(skip);
    }

    /// <summary>
    /// Decodes, window by window, up to the newest cut point that has a PSB after its PSB+ (so its FUP's block can be
    /// seen). A window spans up to <see cref="MaxWindowBytes"/> (at least one PSB segment), and the sink hears of each
    /// one, so output can go out while a large chunk is still being decoded.
    /// </summary>
    private void DecodeWindows()
    {
        while (true)
        {
            ReadOnlySpan<byte> held = _buffer.AsSpan(0, _length);
            int best = -1, after = -1;
            for (int i = 0; i < _cuts.Count; i++)
            {
                LiveCut c = _cuts[i];
                if (c.Psb <= _window) continue;
                if (best >= 0 && c.Psb - _window > MaxWindowBytes) break;
                // A later cut is a PSB after this one; the newest needs one of its own.
                int next = i + 1 < _cuts.Count ? (int)(_cuts[i + 1].Psb - _base) : PtSync.Forward(held, (int)(c.PsbEnd - _base));
                if (next < 0) break;
                best = i;
                after = next;
            }
            if (best < 0) return;
            LiveCut cut = _cuts[best];
            ulong sliceEnd = _base + (ulong)Math.Min(_length, after + PtSync.PsbSize);
            DecodeWindow(sliceEnd, (long)(cut.Psb - _window), cut.Ip, out bool stopped);
            if (stopped)
            {
                _counts.Decoded += (long)(cut.Psb - _window);
                _window = cut.Psb;
                _dropBefore = (int)(cut.PsbEnd - cut.Psb);
            }
            else
            {
                // The next cut's first block never came (an error near the cut, or tracing stopped right after it):
                // this window's flow ran on to the slice's end, so the next one starts afresh from the PSB there.
                _counts.Resyncs++;
                ulong resume = _base + (ulong)after;
                _counts.Decoded += (long)(resume - _window);
                _window = resume;
                _dropBefore = 0;
                _sink.StartSegment(first: false);
            }
            DropCutsBefore(_window + 1);
            Compact(_window);
            _sink.Decoded(_window);
        }
    }

    private void DecodeWindow(ulong sliceEnd, long stopAt, ulong stopIp, out bool stopped)
    {
        _offsets.Forget(_window);
        ReadOnlySpan<byte> slice = _buffer.AsSpan((int)(_window - _base), (int)(sliceEnd - _window));
        _stop.Requested = false;
        var sink = new LiveWindowSink(_sink, _window, _offsets, _dropBefore, stopAt, stopIp, _stop);
        if (_timed) PtTimedFlowSession.Decode(slice, _image, _config, ref sink, sink.Stop);
        else PtFlowSession.Decode(slice, _image, _config, ref sink, sink.Stop);
        stopped = sink.Stopped;
        _counts.Windows++;
        _counts.Errors += sink.Errors;
        _counts.Instructions += sink.Instructions;
    }

    private void DropCutsBefore(ulong at)
    {
        int n = 0;
        while (n < _cuts.Count && _cuts[n].Psb < at) n++;
        if (n > 0) _cuts.RemoveRange(0, n);
    }

    private void Store(ReadOnlySpan<byte> data)
    {
        if (_buffer.Length - _length < data.Length)
        {
            Compact(_window);
            if (_buffer.Length - _length < data.Length)
            {
                byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_length + data.Length, Math.Max(64 << 10, _buffer.Length * 2)));
                _buffer.AsSpan(0, _length).CopyTo(bigger);
                if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }
        }
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    /// <summary>Forgets the bytes before <paramref name="keepFrom"/> (moves the rest to the front when that is worth it).</summary>
    private void Compact(ulong keepFrom)
    {
        if (keepFrom <= _base) return;
        int drop = (int)Math.Min((ulong)_length, keepFrom - _base);
        if (drop < _length && drop < _buffer.Length / 2) return;   // cheap to keep for now
        _buffer.AsSpan(drop, _length - drop).CopyTo(_buffer);
        _length -= drop;
        _base += (ulong)drop;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _length = 0;
    }
}
