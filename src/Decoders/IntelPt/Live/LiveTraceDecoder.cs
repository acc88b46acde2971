using System.Buffers;
using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Features;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>Where a live decode's streams go (the output side: formats, the console).</summary>
public interface ILiveOutput
{
    /// <summary>A stream's first trace arrived: the sink its flow goes to. <paramref name="context"/> follows its thread and code.</summary>
    ILiveStreamSink Open(StreamContext context, ImageSource images);

    /// <summary>A chunk of trace was decoded: what the sinks wrote may go out now.</summary>
    void Flush();
}

/// <summary>How a live decode runs.</summary>
public sealed record LiveDecoderOptions
{
    /// <summary>Decode block by block with the decoder's time (`decode` does for calls, branches and JSON).</summary>
    public bool Timed { get; init; }
    /// <summary>False when only events are wanted: no code is loaded.</summary>
    public bool BuildImages { get; init; } = true;
    /// <summary>Undecoded bytes a stream may hold before it jumps to its newest PSB.</summary>
    public long MaxBacklog { get; init; } = 16L << 20;
    /// <summary>Which streams to decode (null: all); the others are read past.</summary>
    public Func<StreamKey, bool>? SelectStream { get; init; }
    /// <summary>Errata of this CPU ("F/M" parsed by the caller) instead of the recording's CPUID; null: the CPUID's.</summary>
    public PtFlowConfig? Config { get; init; }
    /// <summary>The vDSO of this process (the traced one's is the same when it ran here and no CPUID says otherwise).</summary>
    public byte[]? OwnVdso { get; init; }
    public string? SymFs { get; init; }
    /// <summary>
    /// Where each stream's trace really ended (by <see cref="StreamLookupKey"/>), when chunks may have been dropped on
    /// the way: a tail that never arrived is reported as skipped. Asked once at the end.
    /// </summary>
    public Func<StreamKey, ulong?>? SentEnd { get; init; }
}

/// <summary>
/// The decoding stage of `trace`: reads a perf.data record stream as it arrives (pipe mode from a pipe or from our
/// own drain, or a file), keeps the sideband model up to date record by record (<see cref="SidebandModelBuilder"/>,
/// the one `decode` uses), and hands each AUXTRACE payload to the <see cref="LiveStreamDecoder"/> of its stream
/// (one per thread or CPU), which decodes it as soon as a PSB segment is complete. Records are taken in the order
/// they arrive: the drain sends each pass's records before its AUX bytes, so the mappings a piece of trace runs in
/// are known when it is decoded.
/// </summary>
public sealed class LiveTraceDecoder(ILiveOutput output, LiveDecoderOptions options) : IDisposable
{
    private readonly SidebandModelBuilder _sideband = new();
    private readonly Dictionary<StreamKey, LiveStreamDecoder?> _streams = [];
    private readonly List<LiveStreamDecoder> _order = [];
    private IntelPtAuxtraceInfo? _info;
    private ulong _timeCycles, _timeMask;
    private bool _shortCounter;
    private PtRecording? _setup;
    private ImageSource? _images;
    private byte[] _payload = [];
    /// <summary>Streams given trace since the last FINISHED_ROUND: decoded at the next one.</summary>
    private readonly List<LiveStreamDecoder> _waiting = [];
    /// <summary>Trace held for the next round beyond which a stream is decoded anyway (rounds far apart, or none).</summary>
    private const long MaxWaitingBytes = 4 << 20;

    public IReadOnlyList<LiveStreamDecoder> Streams => _order;
    public SidebandModel Sideband => _sideband.Model;
    /// <summary>Trace bytes of streams that were not selected (read past).</summary>
    public long IgnoredBytes { get; private set; }
    public long AuxtraceRecords { get; private set; }
    public long Records { get; private set; }
    /// <summary>What the recording says about the trace, once its first AUXTRACE arrived (null before).</summary>
    public PtRecording? Recording => _setup;
    public ImageSource? Images => _images;
    /// <summary>Bytes of pooled buffers the decoder holds (stream backlogs and the payload buffer).</summary>
    public long BufferBytes => _payload.Length + _order.Sum(s => s.BufferBytes);

    /// <summary>
    /// Reads <paramref name="reader"/> to its end (or until <paramref name="cancellation"/>), decoding as it goes,
    /// then decodes what every stream still holds. <paramref name="behind"/> says, before each AUX chunk, whether
    /// more is queued before the decoder than it can take: the stream then jumps ahead instead of decoding.
    /// </summary>
    public void Run(PerfDataReader reader, Func<bool>? behind = null, CancellationToken cancellation = default)
    {
        while (!cancellation.IsCancellationRequested && reader.TryRead(out PerfRecord r))
        {
            Records++;
            switch (r.Type)
            {
                case PerfRecordType.Auxtrace:
                    if (r.Bytes.Length < 48 || r.AuxPayloadOffset < 0) break;   // compressed: its payload is out of reach
                    ReadOnlySpan<byte> a = r.Bytes;
                    long size = r.AuxPayloadSize;
                    ulong offset = U64(a, 16);
                    uint idx = BinaryPrimitives.ReadUInt32LittleEndian(a[32..]);
                    int tid = BinaryPrimitives.ReadInt32LittleEndian(a[36..]), cpu = BinaryPrimitives.ReadInt32LittleEndian(a[40..]);
                    AuxtraceRecords++;
                    Setup(reader);
                    AddAux(reader, StreamOf(idx, tid, cpu), offset, size, r.AuxPayloadOffset);
                    break;
                case PerfRecordType.FinishedRound:
                    // Every record drained before this point is in: the trace that came with them can be placed.
                    DecodeWaiting(behind?.Invoke() ?? false);
                    break;
                case PerfRecordType.AuxtraceInfo:
                    _info ??= IntelPtAuxtraceInfo.TryParse(r.Bytes);
                    break;
                case PerfRecordType.TimeConv:
                    if (PerfTimeConversion.TryReadShortCounter(r.Bytes, out ulong c, out ulong m)) (_shortCounter, _timeCycles, _timeMask) = (true, c, m);
                    break;
                default:
                    _sideband.Add(r);
                    break;
            }
        }
        Finish();
    }

    /// <summary>Decodes what every stream still holds.</summary>
    public void Finish()
    {
        DecodeWaiting(false);
        foreach (var (lookup, s) in _streams)
            s?.Finish(options.SentEnd?.Invoke(lookup));
        output.Flush();
    }

    /// <summary>How an AUXTRACE's (idx, tid, cpu) names its stream: per CPU by CPU, per thread by (idx, tid).</summary>
    public static StreamKey StreamLookupKey(uint idx, int tid, int cpu) =>
        cpu >= 0 ? new StreamKey(true, cpu, -1, 0) : new StreamKey(false, -1, tid, idx);

    private void DecodeWaiting(bool behind)
    {
        if (_waiting.Count == 0) return;
        foreach (LiveStreamDecoder s in _waiting) s.DecodeAvailable(behind);
        _waiting.Clear();
        output.Flush();
    }

    /// <summary>
    /// Keeps an AUXTRACE payload in its stream, to be decoded at the next FINISHED_ROUND: a drain pass writes its AUX
    /// bytes before the sideband records of the same pass (the MMAP2 of an exec, say), and the round marker comes
    /// after both.
    /// </summary>
    private void AddAux(PerfDataReader reader, LiveStreamDecoder? stream, ulong offset, long size, long inputOffset)
    {
        if (stream is null)
        {
            IgnoredBytes += size;
            return;   // the next read skips the payload
        }
        int want = (int)Math.Min(size, 16 << 20);
        if (_payload.Length < want)
        {
            if (_payload.Length > 0) ArrayPool<byte>.Shared.Return(_payload);
            _payload = ArrayPool<byte>.Shared.Rent(want);
        }
        for (long done = 0; done < size;)
        {
            int n = reader.ReadAuxPayload(_payload.AsSpan(0, (int)Math.Min(_payload.Length, size - done)));
            if (n == 0) break;   // the input ended inside the payload
            stream.Append(offset + (ulong)done, _payload.AsSpan(0, n), inputOffset: inputOffset + done, decode: false);
            done += n;
        }
        if (!_waiting.Contains(stream)) _waiting.Add(stream);
        if (stream.Backlog > MaxWaitingBytes)
        {
            stream.DecodeAvailable();
            output.Flush();
        }
    }

    /// <summary>What decoding needs from the recording, taken when its first trace arrives (the records before it).</summary>
    private void Setup(PerfDataReader reader)
    {
        if (_setup is not null) return;
        HeaderFacts facts = HeaderFacts.Read(reader, _info, warnings: null);
        PerfTimeConversion conversion = _info is null ? PerfTimeConversion.None : PerfTimeConversion.From(_info);
        if (conversion.Valid && _shortCounter) conversion = conversion.WithShortCounter(_timeCycles, _timeMask);
        _setup = new PtRecording
        {
            Sideband = _sideband.Model,
            Buffers = [],
            AuxtraceInfo = _info,
            IntelPtConfig = facts.IntelPtConfig,
            IntelPtConfigKnown = facts.IntelPtConfigKnown,
            Conversion = conversion,
            CpuId = facts.CpuId,
            BuildIds = facts.BuildIds,
            CapturedCode = facts.CapturedCode,
        };
        // JIT code from the jitdump of each process, as decode has it (found through the MMAP of jit-PID.dump).
        _images = new ImageSource(facts.BuildIds, facts.CapturedCode, options.OwnVdso, options.SymFs) { Jit = Jit.JitCodeSource.ForRecording(_sideband.Model) };
    }

    private PtFlowConfig FlowConfig()
    {
        PtRecording r = _setup!;
        PtFlowConfig baseConfig = options.Config ?? (r.TryGetCpu(out int family, out int model) ? PtFlowConfig.ForCpu(family, model) : new PtFlowConfig());
        return baseConfig with { Timing = r.Timing };
    }

    /// <summary>The decoder of a stream (created with its first chunk), or null when the stream is not selected.</summary>
    private LiveStreamDecoder? StreamOf(uint idx, int tid, int cpu)
    {
        // As PtRecording.Streams: per-thread buffers by (idx, tid), per-CPU ones by CPU (the first tid names it).
        StreamKey lookup = StreamLookupKey(idx, tid, cpu);
        if (_streams.TryGetValue(lookup, out LiveStreamDecoder? known)) return known;
        StreamKey key = cpu >= 0 ? lookup with { Tid = tid } : lookup;
        LiveStreamDecoder? stream = null;
        if (options.SelectStream?.Invoke(key) ?? true)
        {
            PtRecording r = _setup!;
            PerfTimeConversion conversion = r.IsTimed ? r.Conversion : PerfTimeConversion.None;
            var context = new StreamContext(_sideband.Model, _images!, conversion, key, options.BuildImages);
            ILiveStreamSink sink = output.Open(context, _images!);
            stream = new LiveStreamDecoder(key, sink, context.Image, FlowConfig(), options.Timed, options.MaxBacklog);
            _order.Add(stream);
        }
        _streams[lookup] = stream;
        return stream;
    }

    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);

    public void Dispose()
    {
        foreach (LiveStreamDecoder s in _order) s.Dispose();
        if (_payload.Length > 0) ArrayPool<byte>.Shared.Return(_payload);
        _payload = [];
    }
}
