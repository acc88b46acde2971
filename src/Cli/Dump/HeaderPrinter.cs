using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Cli.Dump;

/// <summary>The header and its features as `perf report --header-only` prints them ("# name : value" lines).</summary>
public static class HeaderPrinter
{
    public static string Format(PerfDataReader reader)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append("# ========\n");
        if (!reader.IsPipe)
        {
            sb.Append(inv, $"# data offset    : {reader.DataSection.Offset}\n");
            sb.Append(inv, $"# data size      : {reader.DataSection.Size}\n");
            sb.Append(inv, $"# feat offset    : {reader.DataSection.Offset + reader.DataSection.Size}\n");
        }
        foreach (FeatureData f in reader.Features.OrderBy(f => (int)f.Feature))
            Feature(sb, reader, f);
        foreach (EventAttrInfo a in reader.Attrs.Attrs)
        {
            var attr = a.Attr;
            sb.Append(inv, $"# event : name = {a.Name}, , id = {{ {string.Join(", ", a.Ids)} }}, type = {attr.Type}, size = {a.RawBytes.Length}, config = 0x{attr.Config:x}, {(attr.Has(Decoders.Abi.AttrFlags.Freq) ? "sample_freq" : "sample_period")} = {attr.SamplePeriod}, sample_type = {attr.SampleType}, read_format = {attr.ReadFormat}, flags = {attr.Flags}\n");
        }
        sb.Append("# ========\n#\n");
        return sb.ToString();
    }

    private static void Feature(StringBuilder sb, PerfDataReader reader, FeatureData f)
    {
        var inv = CultureInfo.InvariantCulture;
        ReadOnlySpan<byte> p = f.Payload;
        int o = 0;
        switch (f.Feature)
        {
            case HeaderFeature.Hostname when FeatureParsing.TryReadString(p, ref o, out string v): sb.Append($"# hostname : {v}\n"); break;
            case HeaderFeature.OsRelease when FeatureParsing.TryReadString(p, ref o, out string v): sb.Append($"# os release : {v}\n"); break;
            case HeaderFeature.Version when FeatureParsing.TryReadString(p, ref o, out string v): sb.Append($"# perf version : {v}\n"); break;
            case HeaderFeature.Arch when FeatureParsing.TryReadString(p, ref o, out string v): sb.Append($"# arch : {v}\n"); break;
            case HeaderFeature.CpuDesc when FeatureParsing.TryReadString(p, ref o, out string v): sb.Append($"# cpudesc : {v}\n"); break;
            case HeaderFeature.CpuId when FeatureParsing.TryReadString(p, ref o, out string v): sb.Append($"# cpuid : {v}\n"); break;
            case HeaderFeature.NrCpus when p.Length >= 8:
                sb.Append(inv, $"# nrcpus online : {BinaryPrimitives.ReadUInt32LittleEndian(p[4..])}\n# nrcpus avail : {BinaryPrimitives.ReadUInt32LittleEndian(p)}\n");
                break;
            case HeaderFeature.TotalMem when p.Length >= 8:
                sb.Append(inv, $"# total memory : {BinaryPrimitives.ReadUInt64LittleEndian(p)} kB\n");
                break;
            case HeaderFeature.Cmdline when FeatureParsing.TryReadStringList(p, ref o) is { } args:
                sb.Append($"# cmdline : {string.Join(' ', args)} \n");
                break;
            case HeaderFeature.EventDesc:
            case HeaderFeature.BranchStack:
                if (f.Feature == HeaderFeature.BranchStack) sb.Append("# contains samples with branch stack\n");
                break;  // events are printed from the attrs, which EVENT_DESC has named
            case HeaderFeature.BuildId:
                sb.Append(inv, $"# build-id table: {p.Length} bytes\n");
                break;
            case HeaderFeature.ClockId when p.Length >= 8:
                sb.Append(inv, $"# clockid frequency: {BinaryPrimitives.ReadUInt64LittleEndian(p) / 1_000_000} MHz\n");
                break;
            case HeaderFeature.Compressed when p.Length >= 20:
                sb.Append(inv, $"# compressed : {(BinaryPrimitives.ReadUInt32LittleEndian(p[4..]) == 1 ? "Zstd" : "?")}, level = {BinaryPrimitives.ReadUInt32LittleEndian(p[8..])}, ratio = {BinaryPrimitives.ReadUInt32LittleEndian(p[12..])}\n");
                break;
            case HeaderFeature.PmuMappings when p.Length >= 4:
            {
                uint nr = BinaryPrimitives.ReadUInt32LittleEndian(p);
                o = 4;
                var names = new List<string>();
                for (uint i = 0; i < nr && p.Length - o >= 4; i++)
                {
                    uint type = BinaryPrimitives.ReadUInt32LittleEndian(p[o..]);
                    o += 4;
                    if (!FeatureParsing.TryReadString(p, ref o, out string name)) break;
                    names.Add($"{name} = {type}");
                }
                sb.Append($"# pmu mappings: {string.Join(", ", names)}\n");
                break;
            }
            default:
                sb.Append(inv, $"# feature {(int)f.Feature} ({f.Feature}): {p.Length} bytes at 0x{f.Offset:x}\n");
                break;
        }
    }
}
