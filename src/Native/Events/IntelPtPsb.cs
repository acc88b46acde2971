namespace DotnetPtrace.Native.Events;

/// <summary>
/// Intel PT's PSB packet (Packet Stream Boundary, SDM 33.4.2.17): 16 bytes, 02 82 repeated eight times, written at
/// least every psb_period bytes. Decoders can start only there, so AUX snapshots are stitched at PSBs.
/// </summary>
public static class IntelPtPsb
{
    public static ReadOnlyMemory<byte> Bytes { get; } = new byte[] { 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82, 2, 0x82 };
}
