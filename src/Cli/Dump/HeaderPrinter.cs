using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Features;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// The header and its features as `perf report --header-only -I` (perf 6.1) prints them. Features perf prints
/// nothing or only a flag for (BUILD_ID, TRACING_DATA, the AUXTRACE index, BPF programs) get lines of our own,
/// each starting with a prefix named by its feature type. A payload we cannot decode gives one line,
/// "# feature NAME: what at offset 0x..", and the rest of the header is still printed.
/// </summary>
public static class HeaderPrinter
{
    /// <summary>Prefix of the line we print for a feature we cannot decode.</summary>
    public const string ProblemPrefix = "# feature ";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Format(PerfDataReader reader) => Format(reader, CapturedOn(reader.Source), TimeZoneInfo.Local);

    public static string Format(PerfDataReader reader, DateTime capturedOn, TimeZoneInfo zone)
    {
        var sb = new StringBuilder();
        sb.Append("# ========\n");
        // ctime(3): "Mon Nov  3 21:41:52 2026"
        sb.Append(Inv, $"# captured on    : {capturedOn:ddd MMM} {capturedOn.Day,2} {capturedOn:HH:mm:ss yyyy}\n");
        sb.Append("# header version : 1\n");
        ulong dataOffset = reader.IsPipe ? 0 : reader.DataSection.Offset, dataSize = reader.IsPipe ? 0 : reader.DataSection.Size;
        sb.Append(Inv, $"# data offset    : {dataOffset}\n");
        sb.Append(Inv, $"# data size      : {dataSize}\n");
        sb.Append(Inv, $"# feat offset    : {dataOffset + dataSize}\n");
        // In pipe mode perf closes the header block first and prints each feature as its record arrives.
        if (reader.IsPipe) sb.Append("# ========\n#\n");

        var context = new Context(reader, zone);
        foreach (FeatureData f in reader.Features) Feature(sb, f, context);

        if (!reader.IsPipe)
        {
            var present = reader.Features.Select(f => (int)f.Feature).ToHashSet();
            sb.Append("# missing features: ");
            for (int bit = 1; bit < FeatureNames.Perf61FeatureCount; bit++)
                if (!present.Contains(bit)) sb.Append(FeatureNames.Of((HeaderFeature)bit)).Append(' ');
            sb.Append('\n');
            sb.Append("# ========\n#\n");
        }
        return sb.ToString();
    }

    /// <summary>perf's "captured on" is the file's modification time (fstat); standard input has none, so now.</summary>
    private static DateTime CapturedOn(string source) =>
        source != "-" && File.Exists(source) ? File.GetLastWriteTime(source) : DateTime.Now;

    /// <summary>What printing one feature may need from the others, taken as perf has it when it prints.</summary>
    private sealed class Context(PerfDataReader reader, TimeZoneInfo zone)
    {
        public bool IsPipe { get; } = reader.IsPipe;
        public TimeZoneInfo Zone { get; } = zone;
        /// <summary>Event names in file order (EVENT_DESC names where there are), for GROUP_DESC.</summary>
        public IReadOnlyList<string> EventNames { get; } = [.. reader.Attrs.Attrs.Select(a => a.Name)];
        /// <summary>NRCPUS "avail": the length of CPU_TOPOLOGY's per-CPU arrays.</summary>
        public int CpusAvailable { get; } = Find(reader, HeaderFeature.NrCpus) is { } f && CpuCounts.TryParse(f.Payload, out var n, out _) ? (int)n.Available : 0;
        /// <summary>ARCH: on s390 and aarch64 perf accepts socket ids above the CPU count.</summary>
        public string? Arch { get; } = Find(reader, HeaderFeature.Arch) is { } f && TextFeature.TryParse(HeaderFeature.Arch, f.Payload, out var a, out _) ? a.Value : null;

        /// <summary>BPF_BTF: the type names BPF_PROG_INFO prints its functions with.</summary>
        public BpfBtf? Btf { get; } = Find(reader, HeaderFeature.BpfBtf) is { } f && BpfBtf.TryParse(f.Payload, out var b, out _) ? b : null;

        private static FeatureData? Find(PerfDataReader reader, HeaderFeature feature) => reader.Features.FirstOrDefault(f => f.Feature == feature);
    }

    private delegate bool Parser<T>(ReadOnlySpan<byte> payload, out T? value, out FeatureProblem problem) where T : class;

    private static void Feature(StringBuilder sb, FeatureData f, Context context)
    {
        switch (f.Feature)
        {
            case HeaderFeature.Hostname or HeaderFeature.OsRelease or HeaderFeature.Version or HeaderFeature.Arch or HeaderFeature.CpuDesc or HeaderFeature.CpuId:
                Print(sb, f, context, (ReadOnlySpan<byte> p, out TextFeature? v, out FeatureProblem e) => TextFeature.TryParse(f.Feature, p, out v, out e), v => v.Print(sb));
                break;
            case HeaderFeature.TracingData: Print<TracingDataSummary>(sb, f, context, TracingDataSummary.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.BuildId: Print<BuildIdTable>(sb, f, context, BuildIdTable.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.NrCpus: Print<CpuCounts>(sb, f, context, CpuCounts.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.TotalMem: Print<TotalMemory>(sb, f, context, TotalMemory.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.Cmdline: Print<CommandLine>(sb, f, context, CommandLine.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.EventDesc: Print<EventDescription>(sb, f, context, EventDescription.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.CpuTopology:
                Print(sb, f, context, (ReadOnlySpan<byte> p, out CpuTopology? v, out FeatureProblem e) => CpuTopology.TryParse(p, context.CpusAvailable, context.Arch, out v, out e), v => v.Print(sb));
                break;
            case HeaderFeature.NumaTopology: Print<NumaTopology>(sb, f, context, NumaTopology.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.BranchStack: sb.Append("# contains samples with branch stack\n"); break;
            case HeaderFeature.PmuMappings: Print<PmuMappings>(sb, f, context, PmuMappings.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.GroupDesc: Print<GroupDescription>(sb, f, context, GroupDescription.TryParse, v => v.Print(sb, context.EventNames)); break;
            case HeaderFeature.Auxtrace: Print<AuxtraceIndex>(sb, f, context, AuxtraceIndex.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.Stat: sb.Append("# contains stat data\n"); break;
            case HeaderFeature.Cache: Print<CacheTopology>(sb, f, context, CacheTopology.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.SampleTime: Print<SampleTimes>(sb, f, context, SampleTimes.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.MemTopology: Print<MemoryTopology>(sb, f, context, MemoryTopology.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.ClockId: Print<ClockResolution>(sb, f, context, ClockResolution.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.DirFormat: Print<DirectoryFormat>(sb, f, context, DirectoryFormat.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.BpfProgInfo: Print<BpfPrograms>(sb, f, context, BpfPrograms.TryParse, v => v.Print(sb, context.Btf)); break;
            case HeaderFeature.BpfBtf: Print<BpfBtf>(sb, f, context, BpfBtf.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.Compressed: Print<CompressionInfo>(sb, f, context, CompressionInfo.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.CpuPmuCaps: Print<PmuCapabilities>(sb, f, context, PmuCapabilities.TryParseCpu, v => v.Print(sb)); break;
            case HeaderFeature.ClockData: Print<ClockData>(sb, f, context, ClockData.TryParse, v => v.Print(sb, context.Zone)); break;
            case HeaderFeature.HybridTopology: Print<HybridTopology>(sb, f, context, HybridTopology.TryParse, v => v.Print(sb)); break;
            case HeaderFeature.PmuCaps: Print<PmuCapabilities>(sb, f, context, PmuCapabilities.TryParsePmus, v => v.Print(sb)); break;
            default:
                // A pipe's feature records end with an empty one whose id is the writer's HEADER_LAST_FEATURE.
                if (context.IsPipe && f.Payload.Length == 0 && (int)f.Feature >= FeatureNames.Perf61FeatureCount) break;
                // perf 6.1 warns about features it does not know (on stderr) and prints nothing.
                sb.Append(Inv, $"{ProblemPrefix}{(int)f.Feature}: {f.Payload.Length} bytes at 0x{PayloadStart(f, context):x}, not known to perf 6.1\n");
                break;
        }
    }

    private static void Print<T>(StringBuilder sb, FeatureData f, Context context, Parser<T> parse, Action<T> print) where T : class
    {
        if (parse(f.Payload, out T? value, out FeatureProblem problem) && value is not null)
        {
            print(value);
            return;
        }
        long at = PayloadStart(f, context) + problem.PayloadOffset;
        sb.Append(Inv, $"{ProblemPrefix}{FeatureNames.Of(f.Feature)}: {problem.Reason} at offset 0x{at:x} (byte {problem.PayloadOffset} of its {f.Payload.Length})\n");
    }

    /// <summary>File offset of the payload's first byte: file mode points at it, pipe mode at the HEADER_FEATURE record (8-byte header, u64 feature id).</summary>
    private static long PayloadStart(FeatureData f, Context context) => context.IsPipe ? f.Offset + 16 : f.Offset;
}
