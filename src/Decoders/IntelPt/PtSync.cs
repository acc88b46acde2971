using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.IntelPt;

/// <summary>
/// Finding PSB packets (the only synchronisation point of a PT stream: <c>02 82</c> eight times).
/// The search walks 8-byte words aligned to the buffer start and then settles on the last 16 bytes of a run of the
/// pattern, as libipt's pt_sync does; matching its choice keeps our offsets equal to libipt's on corrupted input.
/// </summary>
public static class PtSync
{
    public const int PsbSize = 16;
    private const ulong PatternLoHi = 0x8202_8202_8202_8202; // bytes 02 82 02 82 ... read little-endian
    private const ulong PatternHiLo = 0x0282_0282_0282_0282; // bytes 82 02 82 02 ...

    /// <summary>Whether a complete PSB starts at <paramref name="offset"/>.</summary>
    public static bool IsPsbAt(ReadOnlySpan<byte> buffer, int offset)
    {
        if ((uint)offset > (uint)buffer.Length || buffer.Length - offset < PsbSize) return false;
        var psb = buffer.Slice(offset, PsbSize);
        return BinaryPrimitives.ReadUInt64LittleEndian(psb) == PatternLoHi
            && BinaryPrimitives.ReadUInt64LittleEndian(psb[8..]) == PatternLoHi;
    }

    /// <summary>The first PSB at or after <paramref name="start"/>, or -1.</summary>
    public static int Forward(ReadOnlySpan<byte> buffer, int start)
    {
        int pos = (start + 7) & ~7;
        for (; pos + 8 <= buffer.Length; pos += 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(buffer[pos..]);
            if (word != PatternLoHi && word != PatternHiLo) continue;
            int psb = FindPsb(buffer, pos);
            if (psb >= start) return psb;
        }
        return -1;
    }

    /// <summary>The nearest PSB found in whole words before <paramref name="end"/>, or -1.</summary>
    public static int Backward(ReadOnlySpan<byte> buffer, int end)
    {
        for (int pos = (end & ~7) - 8; pos >= 0; pos -= 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(buffer[pos..]);
            if (word != PatternLoHi && word != PatternHiLo) continue;
            int psb = FindPsb(buffer, pos);
            if (psb >= 0) return psb;
        }
        return -1;
    }

    // Given a position inside a run of the pattern, the PSB is the last 16 bytes of that run.
    private static int FindPsb(ReadOnlySpan<byte> buffer, int pos)
    {
        if (buffer[pos] != 0x02) pos++;
        while (pos + 1 < buffer.Length && buffer[pos] == 0x02 && buffer[pos + 1] == 0x82) pos += 2;
        pos -= PsbSize;
        return pos >= 0 && IsPsbAt(buffer, pos) ? pos : -1;
    }
}
