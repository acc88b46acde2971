using System.Buffers.Binary;
using System.Globalization;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Features;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Decoders.IntelPt.Sideband;

/// <summary>
/// One PERF_RECORD_AUXTRACE: <see cref="Size"/> bytes of trace at <see cref="FileOffset"/> in the file (never
/// copied while reading records), <see cref="AuxOffset"/> in its AUX buffer, for thread <see cref="Tid"/> or CPU
/// <see cref="Cpu"/> (-1 for a per-thread buffer).
/// </summary>
public sealed record AuxtraceBuffer(long RecordOffset, long FileOffset, long Size, ulong AuxOffset, ulong Reference, uint Idx, int Tid, int Cpu);

/// <summary>
/// A run of AUXTRACE buffers of one stream that follow each other in the AUX buffer: decoded as one piece of
/// trace. A stream breaks into several segments where data is missing between buffers.
/// </summary>
public sealed class TraceSegment(IReadOnlyList<AuxtraceBuffer> buffers)
{
    public IReadOnlyList<AuxtraceBuffer> Buffers { get; } = buffers;
    public long Size => Buffers.Sum(b => b.Size);

    /// <summary>The file offset of byte <paramref name="offset"/> of the segment.</summary>
    public long FileOffsetOf(long offset)
    {
        foreach (AuxtraceBuffer b in Buffers)
        {
            if (offset < b.Size) return b.FileOffset + offset;
            offset -= b.Size;
        }
        return Buffers.Count == 0 ? offset : Buffers[^1].FileOffset + Buffers[^1].Size;
    }
}

/// <summary>The trace of one thread (per-thread recording) or of one CPU, in AUX offset order.</summary>
public sealed class TraceStream(StreamKey key, IReadOnlyList<TraceSegment> segments)
{
    public StreamKey Key { get; } = key;
    public IReadOnlyList<TraceSegment> Segments { get; } = segments;
    public long Size => Segments.Sum(s => s.Size);
}

/// <summary>
/// An Intel PT recording read from a perf.data (ours or Linux perf's): the sideband model, the AUXTRACE buffers by
/// stream, and what decoding needs to know from AUXTRACE_INFO, TIME_CONV, the intel_pt event's config and the header
/// features (CPUID for the errata, BUILD_ID for checking binaries, our captured code). Reading never throws: damage
/// ends the records with <see cref="ReadError"/> and what came before is kept.
/// </summary>
public sealed class PtRecording
{
    public required SidebandModel Sideband { get; init; }
    public required IReadOnlyList<AuxtraceBuffer> Buffers { get; init; }
    public IntelPtAuxtraceInfo? AuxtraceInfo { get; init; }
    /// <summary>The intel_pt event's config (tsc, mtc, ... bits), 0 when the event was not found.</summary>
    public ulong IntelPtConfig { get; init; }
    /// <summary>The intel_pt event was found among the attrs (else its config bits are unknown).</summary>
    public bool IntelPtConfigKnown { get; init; }
    public PerfTimeConversion Conversion { get; init; }
    /// <summary>perf's CPUID text, e.g. "GenuineIntel,6,78,3".</summary>
    public string? CpuId { get; init; }
    public IReadOnlyDictionary<string, byte[]> BuildIds { get; init; } = new Dictionary<string, byte[]>();
    public IReadOnlyList<CapturedCode> CapturedCode { get; init; } = [];
    public ReadError? ReadError { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
    public long AuxtraceRecords => Buffers.Count;

    /// <summary>The CPU family and model from <see cref="CpuId"/> ("GenuineIntel,F,M,S"), when it names one.</summary>
    public bool TryGetCpu(out int family, out int model)
    {
        family = model = 0;
        string[] parts = (CpuId ?? "").Split(',');
        return parts.Length >= 3 && parts[0] == "GenuineIntel"
            && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out family)
            && int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out model);
    }

    /// <summary>The timing configuration of the trace: MTC frequency, TSC:CTC ratio, nominal core:bus ratio.</summary>
    public PtTimingConfig Timing => AuxtraceInfo is not { } info ? new PtTimingConfig() : new PtTimingConfig
    {
        MtcFreq = info.MtcFreqOf(IntelPtConfig),
        CtcRatioNumerator = info.TscCtcNumerator,
        CtcRatioDenominator = info.TscCtcDenominator,
        NominalFrequency = (uint)info.MaxNonTurboRatio,
    };

    /// <summary>The trace has timestamps perf time can be had from (tsc on, and the conversion recorded).</summary>
    public bool IsTimed => Conversion.Valid && AuxtraceInfo is { } info && (info.TscBit == 0 || !IntelPtConfigKnown || (IntelPtConfig & info.TscBit) != 0);

    /// <summary>
    /// The streams: per-thread buffers (cpu -1) one per (idx, tid), per-CPU buffers one per CPU; each in AUX offset
    /// order, split where the offsets leave a hole, with each buffer's padding or repeated bytes cut where the next
    /// one starts. In the order each stream first appears in the file.
    /// </summary>
    public IReadOnlyList<TraceStream> Streams()
    {
        var order = new List<StreamKey>();
        var groups = new Dictionary<StreamKey, List<AuxtraceBuffer>>();
        foreach (AuxtraceBuffer b in Buffers)
        {
            var key = b.Cpu >= 0 ? new StreamKey(true, b.Cpu, b.Tid, b.Idx) : new StreamKey(false, -1, b.Tid, b.Idx);
            if (b.Cpu >= 0) key = key with { Tid = -1, Idx = 0 };
            if (!groups.TryGetValue(key, out var list))
            {
                groups[key] = list = [];
                order.Add(key);
            }
            list.Add(b);
        }
        var streams = new List<TraceStream>();
        foreach (StreamKey key in order)
        {
            List<AuxtraceBuffer> list = groups[key];
            // First tid the recording gives for a per-CPU stream: who to attribute to when there is no switch sideband.
            StreamKey k = key.PerCpu ? key with { Tid = list[0].Tid } : key;
            var sorted = list.OrderBy(b => b.AuxOffset).ToList();   // stable: file order among equal offsets
            var segments = new List<TraceSegment>();
            var current = new List<AuxtraceBuffer>();
            foreach (AuxtraceBuffer b in sorted)
            {
                if (b.Size <= 0) continue;
                if (current.Count > 0)
                {
                    AuxtraceBuffer last = current[^1];
                    ulong lastEnd = last.AuxOffset + (ulong)last.Size;
                    if (b.AuxOffset > lastEnd || b.AuxOffset < last.AuxOffset)
                    {
                        // A hole (lost data) or a buffer that starts before the previous one: a new piece of trace.
                        segments.Add(new TraceSegment(current));
                        current = [];
                    }
                    else if (b.AuxOffset < lastEnd)
                    {
                        // The previous buffer runs past where this one starts: its tail is either the zero padding that
                        // rounds every AUXTRACE payload up to 8 bytes, or bytes this one repeats (a snapshot that starts
                        // at the previous one's last PSB). Either way the previous buffer ends where this one starts.
                        if (b.AuxOffset + (ulong)b.Size <= lastEnd) continue;   // nothing new in it
                        current[^1] = last with { Size = (long)(b.AuxOffset - last.AuxOffset) };
                        if (current[^1].Size == 0) current.RemoveAt(current.Count - 1);
                    }
                }
                current.Add(b);
            }
            if (current.Count > 0) segments.Add(new TraceSegment(current));
            streams.Add(new TraceStream(k, segments));
        }
        return streams;
    }

    /// <summary>Reads every record of <paramref name="reader"/> (in time order for the sideband).</summary>
    public static PtRecording Load(PerfDataReader reader)
    {
        var sideband = new SidebandModelBuilder();
        var buffers = new List<AuxtraceBuffer>();
        var warnings = new List<string>();
        IntelPtAuxtraceInfo? info = null;
        ulong cycles = 0, mask = 0;
        bool shortCounter = false;
        long compressedAux = 0;
        using (var ordered = new TimeOrderedReader(reader))
        {
            while (ordered.TryRead(out PerfRecord r))
            {
                switch (r.Type)
                {
                    case PerfRecordType.Auxtrace:
                        if (r.Bytes.Length < 48)
                        {
                            warnings.Add($"AUXTRACE record at 0x{r.Offset:x} is {r.Bytes.Length} bytes, too short");
                            break;
                        }
                        if (r.AuxPayloadOffset < 0)
                        {
                            compressedAux++;
                            break;
                        }
                        ReadOnlySpan<byte> a = r.Bytes;
                        buffers.Add(new AuxtraceBuffer(r.Offset, r.AuxPayloadOffset, r.AuxPayloadSize, U64(a, 16), U64(a, 24),
                            BinaryPrimitives.ReadUInt32LittleEndian(a[32..]), BinaryPrimitives.ReadInt32LittleEndian(a[36..]),
                            BinaryPrimitives.ReadInt32LittleEndian(a[40..])));
                        break;
                    case PerfRecordType.AuxtraceInfo:
                        info ??= IntelPtAuxtraceInfo.TryParse(r.Bytes);
                        if (info is null) warnings.Add($"AUXTRACE_INFO at 0x{r.Offset:x} is not Intel PT (or is too short)");
                        break;
                    case PerfRecordType.TimeConv:
                        if (PerfTimeConversion.TryReadShortCounter(r.Bytes, out ulong c, out ulong m)) (shortCounter, cycles, mask) = (true, c, m);
                        break;
                    default:
                        sideband.Add(r);
                        break;
                }
            }
        }
        if (compressedAux > 0) warnings.Add($"{compressedAux} AUXTRACE record(s) inside compressed data: their trace cannot be reached");
        if (sideband.DamagedRecords > 0) warnings.Add($"{sideband.DamagedRecords} sideband record(s) too short for their type were skipped");
        foreach (ReadError w in reader.Warnings) warnings.Add($"0x{w.Offset:x}: {w.Message}");

        HeaderFacts facts = HeaderFacts.Read(reader, info, warnings);
        PerfTimeConversion conversion = info is null ? PerfTimeConversion.None : PerfTimeConversion.From(info);
        if (conversion.Valid && shortCounter) conversion = conversion.WithShortCounter(cycles, mask);
        return new PtRecording
        {
            Sideband = sideband.Model,
            Buffers = buffers,
            AuxtraceInfo = info,
            IntelPtConfig = facts.IntelPtConfig,
            IntelPtConfigKnown = facts.IntelPtConfigKnown,
            Conversion = conversion,
            CpuId = facts.CpuId,
            BuildIds = facts.BuildIds,
            CapturedCode = facts.CapturedCode,
            ReadError = reader.Error,
            Warnings = warnings,
        };
    }

    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}

/// <summary>
/// What decoding needs from a recording besides its records: the intel_pt event's config (from the attrs), the CPU
/// (CPUID feature), the build-ids, and the code --soft-pt captured (feature <see cref="CapturedCode.FeatureBit"/>).
/// </summary>
public sealed record HeaderFacts(ulong IntelPtConfig, bool IntelPtConfigKnown, string? CpuId, Dictionary<string, byte[]> BuildIds, List<CapturedCode> CapturedCode)
{
    /// <summary>Reads the facts from the attrs and features <paramref name="reader"/> has seen; damage is added to <paramref name="warnings"/>.</summary>
    public static HeaderFacts Read(PerfDataReader reader, IntelPtAuxtraceInfo? info, List<string>? warnings)
    {
        ulong config = 0;
        bool configKnown = false;
        if (info is not null)
            foreach (EventAttrInfo attr in reader.Attrs.Attrs)
                if (attr.Attr.Type == info.PmuType) { config = attr.Attr.Config; configKnown = true; break; }

        string? cpuId = null;
        var buildIds = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        List<CapturedCode> captured = [];
        foreach (FeatureData f in reader.Features)
        {
            if (f.Feature == HeaderFeature.CpuId)
            {
                int o = 0;
                if (FeatureParsing.TryReadString(f.Payload, ref o, out string s)) cpuId = s;
            }
            else if (f.Feature == HeaderFeature.BuildId)
            {
                if (BuildIdTable.TryParse(f.Payload, out BuildIdTable? table, out _))
                    foreach (PerfData.Features.BuildIdEntry e in table.Entries) buildIds.TryAdd(e.FileName, e.BuildId);
            }
            else if ((int)f.Feature == PerfData.CapturedCode.FeatureBit)
            {
                if (PerfData.CapturedCode.TryDecode(f.Payload, out string? error) is { } list) captured = list;
                else warnings?.Add($"0x{f.Offset:x}: {error}");
            }
        }
        return new HeaderFacts(config, configKnown, cpuId, buildIds, captured);
    }
}
