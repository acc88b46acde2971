using System.Globalization;

namespace DotnetPtrace.Native.Events;

/// <summary>
/// The AUX area and snapshot sizes of an Intel PT recording, chosen and checked as perf's intel_pt_recording_options
/// does (tools/perf/arch/x86/util/intel-pt.c): AUX 4 MiB when privileged, 128 KiB otherwise; in snapshot mode the
/// snapshot size defaults to the AUX size, an AUX size defaults to the snapshot size rounded up to a power of two
/// pages, and a snapshot may not be larger than the AUX area; the AUX area is a power of two of at least 8 KiB
/// (4 KiB in snapshot mode).
/// </summary>
public sealed record IntelPtBufferPlan(int AuxPages, ulong SnapshotSize, string? Warning)
{
    /// <summary>perf warns when a snapshot cannot hold a PSB period plus this many bytes (INTEL_PT_PSB_PERIOD_NEAR).</summary>
    public const int PsbPeriodNear = 256;

    /// <param name="auxPages">-m ,AUX as given (null: the default).</param>
    /// <param name="snapshotSize">--snapshot=SIZE in bytes (null: no size given).</param>
    /// <param name="psbPeriodBytes">The PSB period the config asks for (0: unknown), for perf's warning.</param>
    public static IntelPtBufferPlan Choose(bool privileged, int? auxPages, bool snapshot, ulong? snapshotSize, ulong psbPeriodBytes, int pageSize)
    {
        ulong page = (ulong)pageSize;
        ulong defaultAux = (privileged ? 4UL << 20 : 128UL << 10) / page;
        if (!snapshot)
        {
            int pages = auxPages ?? (int)defaultAux;
            CheckSize(pages, page, minimum: 8 << 10);
            return new IntelPtBufferPlan(pages, 0, null);
        }
        if (snapshotSize is 0) throw new EventParseException("--snapshot=0: a snapshot must hold at least one byte");
        ulong chosenPages = auxPages is { } given ? (ulong)given
            : snapshotSize is { } s ? RoundUpToPowerOfTwo((s + page - 1) / page)
            : defaultAux;
        if (chosenPages > int.MaxValue) throw new EventParseException($"--snapshot={snapshotSize}: too large for an AUX area");
        CheckSize((int)chosenPages, page, minimum: 4 << 10);
        ulong auxBytes = chosenPages * page;
        ulong size = snapshotSize ?? auxBytes;
        if (size > auxBytes)
            throw new EventParseException($"--snapshot={size}: a snapshot cannot be larger than the AUX area ({auxBytes} bytes; raise it with -m ,{RoundUpToPowerOfTwo((size + page - 1) / page)})");
        string? warning = psbPeriodBytes > 0 && size <= psbPeriodBytes + PsbPeriodNear
            ? string.Create(CultureInfo.InvariantCulture, $"snapshot size {size} may be too small for the PSB period ({psbPeriodBytes} bytes): a snapshot may hold no PSB to start decoding at")
            : null;
        return new IntelPtBufferPlan((int)chosenPages, size, warning);
    }

    private static void CheckSize(int pages, ulong page, int minimum)
    {
        ulong bytes = (ulong)pages * page;
        if (bytes < (ulong)minimum || (pages & (pages - 1)) != 0)
            throw new EventParseException($"-m ,{pages}: the Intel PT AUX area must be a power of two pages of at least {minimum >> 10} KiB ({bytes} bytes given)");
    }

    private static ulong RoundUpToPowerOfTwo(ulong value) => value <= 1 ? 1 : 1UL << (64 - System.Numerics.BitOperations.LeadingZeroCount(value - 1));

    /// <summary>The PSB period an intel_pt config asks for: 2^(psb_period + 11) bytes; 0 without the term.</summary>
    public static ulong PsbPeriodBytes(Pmu intelPt, ulong config)
    {
        if (!intelPt.Format.TryGetValue("psb_period", out var term)) return 0;
        var attr = new Decoders.Abi.PerfEventAttr { Config = config };
        int n = (int)term.Decode(attr);
        return n < 40 ? 1UL << (n + 11) : 0;
    }

    /// <summary>
    /// --snapshot=SIZE: bytes as perf takes them (strtoull base 0: 65536, 0x10000) or with a K/M/G suffix; null when
    /// the text is none of these.
    /// </summary>
    public static ulong? ParseSize(string text)
    {
        string t = text.Trim();
        if (t.StartsWith('e')) t = t[1..];   // perf's "e" (snapshot at exit) is always on here
        if (t.Length == 0) return null;
        ulong unit = char.ToUpperInvariant(t[^1]) switch { 'K' => 1UL << 10, 'M' => 1UL << 20, 'G' => 1UL << 30, 'B' => 1, _ => 0 };
        if (unit != 0) t = t[..^1];
        else unit = 1;
        if (!AddressFilters.AddressFilterParser.TryParseCNumber(t, out ulong value) || value > ulong.MaxValue / unit) return null;
        return value * unit;
    }
}
