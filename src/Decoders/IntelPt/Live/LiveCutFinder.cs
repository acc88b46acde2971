using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>A cut point (a PSB whose PSB+ carries a FUP) by its position in a stream's AUX offsets.</summary>
public readonly record struct LiveCut(ulong Psb, ulong PsbEnd, ulong Ip);

/// <summary>
/// Finds the cut points of a trace that grows at its end (<see cref="PtSegments.FindCutPoints"/> for appended
/// bytes): each call scans only what was added since the last one, plus a little before it, since a PSB+ cut by
/// the previous end of the data was not complete then. Packet layer only, nothing allocated per packet.
/// </summary>
internal sealed class LiveCutFinder
{
    /// <summary>Longer than any PSB+ (PSB, TSC, TMA, CBR, MODE, VMCS, PIP, FUP, PSBEND are under 100 bytes).</summary>
    private const int RescanBytes = 512;
    private ulong _scanned;
    private ulong _lastPsb = ulong.MaxValue;

    /// <summary>Starts over at <paramref name="from"/> (after a skip or a hole).</summary>
    public void Reset(ulong from)
    {
        _scanned = from;
        _lastPsb = ulong.MaxValue;
    }

    /// <summary>
    /// Adds to <paramref name="cuts"/> the new cut points in <paramref name="data"/>, whose first byte is at AUX
    /// offset <paramref name="dataStart"/>.
    /// </summary>
    public void Scan(ReadOnlySpan<byte> data, ulong dataStart, List<LiveCut> cuts)
    {
        ulong end = dataStart + (ulong)data.Length;
        ulong from = Math.Max(dataStart, _scanned > RescanBytes ? _scanned - RescanBytes : 0);
        if (from >= end) return;
        ulong resume = end;
        for (int at = PtSync.Forward(data, (int)(from - dataStart)); at >= 0; at = PtSync.Forward(data, at + 1))
        {
            ulong psb = dataStart + (ulong)at;
            if (_lastPsb != ulong.MaxValue && psb <= _lastPsb) continue;
            var dec = new PtPacketDecoder(data);
            if (dec.SyncSet(at) != PtStatus.Ok) continue;
            if (dec.Next(out PtPacket first) != PtStatus.Ok || first.Kind != PtPacketKind.Psb) continue;
            bool fup = false, complete = false;
            var lastIp = new PtLastIp();
            PtStatus status;
            while ((status = dec.Next(out PtPacket p)) == PtStatus.Ok)
            {
                if (p.Kind == PtPacketKind.Fup) fup = lastIp.Update(p) && lastIp.HasIp && !lastIp.Suppressed;
                else if (p.Kind == PtPacketKind.PsbEnd)
                {
                    complete = true;
                    if (fup) cuts.Add(new LiveCut(psb, dataStart + (ulong)dec.Offset, lastIp.Ip));
                    break;
                }
                else if (p.Kind is PtPacketKind.Psb or PtPacketKind.Ovf or PtPacketKind.Tip or PtPacketKind.TipPge or PtPacketKind.TipPgd)
                {
                    complete = true;   // a PSB+ cut short: never a cut point
                    break;
                }
            }
            // A PSB+ that runs past the data's end is looked at again when more arrives; a damaged one is no cut.
            if (!complete && status is PtStatus.EndOfStream or PtStatus.Truncated)
            {
                resume = psb;
                break;
            }
            _lastPsb = psb;
        }
        _scanned = resume;
    }
}
