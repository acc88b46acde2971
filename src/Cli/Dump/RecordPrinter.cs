using System.Buffers.Binary;
using System.Text.Unicode;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// One line per record in the shape of `perf report -D`: offset, [size], PERF_RECORD_name, then its fields.
/// Records inside COMPRESSED data show the compressed record's offset and their offset in the decompressed stream.
/// </summary>
public sealed class RecordPrinter(Utf8Output output)
{
    public void Print(in PerfRecord r)
    {
        Span<byte> s = output.GetSpan();
        int n;
        if (r.DecompressedOffset >= 0)
            Utf8.TryWrite(s, $"0x{r.Offset:x}/0x{r.DecompressedOffset:x} [0x{r.Header.Size:x}]: ", out n);
        else
            Utf8.TryWrite(s, $"0x{r.Offset:x} [0x{r.Header.Size:x}]: ", out n);
        output.Advance(n);
        output.Write(RecordTypeNames.Long(r.Type));
        Fields(r);
        output.Write("\n"u8);
    }

    private void Fields(in PerfRecord r)
    {
        ReadOnlySpan<byte> b = r.Bytes;
        Span<byte> s = output.GetSpan();
        int n = 0;
        switch (r.Type)
        {
            case PerfRecordType.Sample when r.Attr is { } attr:
                if (!SampleParser.TryParse(b, attr, out PerfSample p, out string? error)) { output.Write($" <{error}>"); return; }
                Utf8.TryWrite(s, $"(IP, 0x{p.Misc:x}): {(int)p.Pid}/{(int)p.Tid}: 0x{p.Ip:x} period: {p.Period} addr: 0x{p.Addr:x} time: {p.Time} cpu: {p.Cpu} event: ", out n);
                output.Advance(n);
                output.Write(attr.Name);
                if (p.Has(SampleType.Callchain)) { s = output.GetSpan(); Utf8.TryWrite(s, $" callchain: {p.Callchain.Length}", out n); output.Advance(n); }
                if (p.Has(SampleType.BranchStack)) { s = output.GetSpan(); Utf8.TryWrite(s, $" branch_stack: {p.BranchCount}", out n); output.Advance(n); }
                return;
            case PerfRecordType.Mmap when b.Length >= 40:
                Utf8.TryWrite(s, $" {I32(b, 8)}/{I32(b, 12)}: [0x{U64(b, 16):x}(0x{U64(b, 24):x}) @ 0x{U64(b, 32):x}]: ", out n);
                output.Advance(n);
                WriteCString(b[40..]);
                n = 0;
                break;
            case PerfRecordType.Mmap2 when b.Length >= 72:
                Utf8.TryWrite(s, $" {I32(b, 8)}/{I32(b, 12)}: [0x{U64(b, 16):x}(0x{U64(b, 24):x}) @ 0x{U64(b, 32):x} prot 0x{U32(b, 64):x} flags 0x{U32(b, 68):x}]: ", out n);
                output.Advance(n);
                WriteCString(b[72..]);
                n = 0;
                break;
            case PerfRecordType.Comm when b.Length >= 16:
                Utf8.TryWrite(s, $"{((r.Header.Misc & PerfRecordMisc.CommExec) != 0 ? " exec" : "")}: ", out n);
                output.Advance(n);
                WriteCString(b[16..]);
                s = output.GetSpan();
                Utf8.TryWrite(s, $":{I32(b, 8)}/{I32(b, 12)}", out n);
                break;
            case PerfRecordType.Fork or PerfRecordType.Exit when b.Length >= 32:
                Utf8.TryWrite(s, $"({I32(b, 8)}:{I32(b, 16)}):({I32(b, 12)}:{I32(b, 20)}) time {U64(b, 24)}", out n);
                break;
            case PerfRecordType.Lost when b.Length >= 24:
                Utf8.TryWrite(s, $" id {U64(b, 8)} lost {U64(b, 16)}", out n);
                break;
            case PerfRecordType.LostSamples when b.Length >= 16:
                Utf8.TryWrite(s, $" lost {U64(b, 8)}", out n);
                break;
            case PerfRecordType.Throttle or PerfRecordType.Unthrottle when b.Length >= 32:
                Utf8.TryWrite(s, $": time {U64(b, 8)} id {U64(b, 16)} stream_id {U64(b, 24)}", out n);
                break;
            case PerfRecordType.Aux when b.Length >= 32:
                Utf8.TryWrite(s, $" offset: 0x{U64(b, 8):x} size: 0x{U64(b, 16):x} flags: 0x{U64(b, 24):x}", out n);
                break;
            case PerfRecordType.Auxtrace when b.Length >= 48:
                Utf8.TryWrite(s, $" size: 0x{U64(b, 8):x} offset: 0x{U64(b, 16):x} ref: 0x{U64(b, 24):x} idx: {U32(b, 32)} tid: {I32(b, 36)} cpu: {I32(b, 40)} payload at 0x{r.AuxPayloadOffset:x}", out n);
                break;
            case PerfRecordType.ItraceStart when b.Length >= 16:
                Utf8.TryWrite(s, $" pid: {I32(b, 8)} tid: {I32(b, 12)}", out n);
                break;
            case PerfRecordType.Switch:
                Utf8.TryWrite(s, $" {((r.Header.Misc & PerfRecordMisc.SwitchOut) != 0 ? "OUT" : "IN ")}", out n);
                break;
            case PerfRecordType.SwitchCpuWide when b.Length >= 16:
                bool isOut = (r.Header.Misc & PerfRecordMisc.SwitchOut) != 0;
                Utf8.TryWrite(s, $" {(isOut ? "OUT" : "IN ")} {(isOut ? "next" : "prev")} pid/tid: {I32(b, 8)}/{I32(b, 12)}", out n);
                break;
            case PerfRecordType.Ksymbol when b.Length >= 24:
                Utf8.TryWrite(s, $" addr 0x{U64(b, 8):x} len {U32(b, 16)} type {BinaryPrimitives.ReadUInt16LittleEndian(b[20..])} flags 0x{BinaryPrimitives.ReadUInt16LittleEndian(b[22..]):x} name ", out n);
                output.Advance(n);
                WriteCString(b[24..]);
                n = 0;
                break;
            case PerfRecordType.Namespaces when b.Length >= 24:
                Utf8.TryWrite(s, $" {I32(b, 8)}/{I32(b, 12)} - nr_namespaces: {U64(b, 16)}", out n);
                break;
            case PerfRecordType.Compressed or PerfRecordType.Compressed2:
                Utf8.TryWrite(s, $" {b.Length - 8} bytes of zstd", out n);
                break;
            case PerfRecordType.HeaderFeature when b.Length >= 16:
                Utf8.TryWrite(s, $" feature {U64(b, 8)} ({(Decoders.PerfData.HeaderFeature)U64(b, 8)})", out n);
                break;
            case PerfRecordType.HeaderAttr when b.Length >= 16:
                Utf8.TryWrite(s, $" type {U32(b, 8)} size {U32(b, 12)} ids {(b.Length - 8 - (int)Math.Min(U32(b, 12) == 0 ? 64u : U32(b, 12), (uint)(b.Length - 8))) / 8}", out n);
                break;
            case PerfRecordType.TimeConv when b.Length >= 32:
                Utf8.TryWrite(s, $" time_shift {U64(b, 8)} time_mult {U64(b, 16)} time_zero {U64(b, 24)}", out n);
                break;
            default:
                if (!r.IsKnownType) Utf8.TryWrite(s, $" (unknown type, {b.Length} bytes kept raw)", out n);
                break;
        }
        output.Advance(n);
        if (SampleIdReader.TryRead(r.Type, b, r.Attr, out SampleIdTrailer t, out _))
        {
            s = output.GetSpan();
            Utf8.TryWrite(s, $" sample_id: {(int)t.Pid}/{(int)t.Tid} time {t.Time} cpu {t.Cpu} id {t.Id}", out n);
            output.Advance(n);
        }
    }

    private void WriteCString(ReadOnlySpan<byte> b)
    {
        int nul = b.IndexOf((byte)0);
        output.Write(nul >= 0 ? b[..nul] : b);
    }

    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static int I32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadInt32LittleEndian(b[o..]);
}
