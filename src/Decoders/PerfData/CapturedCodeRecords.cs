using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// How the <see cref="CapturedCode"/> feature travels in pipe mode. A file keeps it at feature bit 200, which perf
/// skips; but a pipe can only carry features as PERF_RECORD_HEADER_FEATURE records, and perf report stops at one
/// whose id it does not know ("failed: wrong feature ID: 200"). So the payload goes in
/// PERF_RECORD_HEADER_EVENT_TYPE (65) records instead, which perf has ignored since it deprecated them (perf 6.1
/// session.c: "Deprecated, but we need to handle it for sake of old data files create in pipe mode"; checked with
/// perf script, report, script -D, report -D and buildid-list). Each record is
/// <code>header (type 65) | "DNPTCODE" | u32 part | u32 parts | up to 64 KiB of the payload</code>
/// because a record's size is a u16; the payload (a multiple of 8 bytes) is the parts joined in order.
/// </summary>
public static class CapturedCodeRecords
{
    /// <summary>"DNPTCODE": tells our records from anything else that may use the deprecated type.</summary>
    public static ReadOnlySpan<byte> Magic => "DNPTCODE"u8;

    private const int PrefixSize = PerfEventHeader.ByteSize + 16;
    /// <summary>Payload bytes per record: the largest multiple of 8 that keeps the record within a u16 size.</summary>
    private const int PartSize = (ushort.MaxValue - PrefixSize) & ~7;

    /// <summary>The records carrying <paramref name="regions"/>, concatenated (empty for no regions).</summary>
    public static byte[] Encode(IReadOnlyList<CapturedCode> regions)
    {
        if (regions.Count == 0) return [];
        byte[] payload = CapturedCode.Encode(regions);
        int parts = Math.Max(1, (payload.Length + PartSize - 1) / PartSize);
        var output = new byte[parts * PrefixSize + payload.Length];
        int pos = 0;
        for (int part = 0; part < parts; part++)
        {
            int start = part * PartSize;
            int length = Math.Min(PartSize, payload.Length - start);
            Span<byte> record = output.AsSpan(pos, PrefixSize + length);
            new PerfEventHeader(PerfRecordType.HeaderEventType, 0, (ushort)record.Length).Write(record);
            Magic.CopyTo(record[8..]);
            BinaryPrimitives.WriteUInt32LittleEndian(record[16..], (uint)part);
            BinaryPrimitives.WriteUInt32LittleEndian(record[20..], (uint)parts);
            payload.AsSpan(start, length).CopyTo(record[PrefixSize..]);
            pos += record.Length;
        }
        return output;
    }

    /// <summary>
    /// Reassembles the payload from records as they come. <see cref="TryAdd"/> returns true when a record was ours;
    /// <see cref="Payload"/> is set once the last part arrived in order.
    /// </summary>
    public sealed class Assembler
    {
        private readonly List<byte> _bytes = [];
        private uint _next;

        /// <summary>The whole feature payload, once complete; null before (or when parts came out of order).</summary>
        public byte[]? Payload { get; private set; }
        /// <summary>Why the parts could not be joined, if they could not.</summary>
        public string? Error { get; private set; }

        public bool TryAdd(ReadOnlySpan<byte> record)
        {
            if (record.Length < PrefixSize || !record.Slice(8, 8).SequenceEqual(Magic)) return false;
            uint part = BinaryPrimitives.ReadUInt32LittleEndian(record[16..]);
            uint parts = BinaryPrimitives.ReadUInt32LittleEndian(record[20..]);
            if (part != _next || part >= parts)
            {
                Error ??= $"captured-code record part {part} of {parts} where part {_next} was expected";
                return true;
            }
            _bytes.AddRange(record[PrefixSize..]);
            _next++;
            if (_next == parts)
            {
                Payload = [.. _bytes];
                _bytes.Clear();
                _next = 0;
            }
            return true;
        }
    }
}
