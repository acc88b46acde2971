using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Turns <see cref="PerfDataFeatures"/> into feature payloads byte for byte as perf's header.c <c>write_*</c>
/// functions produce them, so every perf version reads them. Runs once per file: allocation does not matter here.
/// </summary>
internal static class FeatureEncoder
{
    /// <summary>NAME_ALIGN: perf pads every string (and build-id file name) to a multiple of 64 bytes.</summary>
    private const int NameAlign = 64;

    /// <summary>The payloads to write, in ascending feature-bit order (the order of the section table).</summary>
    public static List<(HeaderFeature Feature, byte[] Payload)> Encode(
        PerfDataFeatures features, IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile,
        IReadOnlyList<(ulong Offset, ulong Size)>? auxtraceIndex = null)
    {
        var result = new List<(HeaderFeature, byte[])>();
        void Add(HeaderFeature feature, Action<ArrayBufferWriter<byte>> write)
        {
            var buffer = new ArrayBufferWriter<byte>();
            write(buffer);
            result.Add((feature, buffer.WrittenSpan.ToArray()));
        }

        if (features.TracingData is { } tracingData)
            Add(HeaderFeature.TracingData, b => b.Write(tracingData));
        // Like perf record, always write BUILD_ID, even empty: its presence tells perf the table is authoritative.
        Add(HeaderFeature.BuildId, b => WriteBuildIds(b, features.BuildIds));
        if (features.Hostname is { } hostname)
            Add(HeaderFeature.Hostname, b => WriteString(b, hostname));
        if (features.OsRelease is { } osRelease)
            Add(HeaderFeature.OsRelease, b => WriteString(b, osRelease));
        if (features.Version is { } version)
            Add(HeaderFeature.Version, b => WriteString(b, version));
        if (features.Arch is { } arch)
            Add(HeaderFeature.Arch, b => WriteString(b, arch));
        if (features is { NrCpusOnline: { } online, NrCpusAvailable: { } available })
        {
            // write_nrcpus writes the present ("avail") count first, then the online count.
            Add(HeaderFeature.NrCpus, b => { WriteU32(b, available); WriteU32(b, online); });
        }
        if (features.CpuDesc is { } cpuDesc)
            Add(HeaderFeature.CpuDesc, b => WriteString(b, cpuDesc));
        if (features.CpuId is { } cpuId)
            Add(HeaderFeature.CpuId, b => WriteString(b, cpuId));
        if (features.TotalMemKb is { } totalMem)
            Add(HeaderFeature.TotalMem, b => WriteU64(b, totalMem));
        if (features.Cmdline is { Length: > 0 } cmdline)
        {
            Add(HeaderFeature.Cmdline, b =>
            {
                WriteU32(b, (uint)cmdline.Length);
                foreach (string arg in cmdline)
                    WriteString(b, arg);
            });
        }
        if (attrs.Count > 0)
            Add(HeaderFeature.EventDesc, b => WriteEventDesc(b, attrs, attrSizeOnFile));
        if (auxtraceIndex is { Count: > 0 })
        {
            // auxtrace_index__write: u64 nr, then {u64 file offset, u64 sz} per AUXTRACE record, sz being the
            // record's header size (48), not header plus payload: perf 6.1 rejects the file otherwise.
            Add(HeaderFeature.Auxtrace, b =>
            {
                WriteU64(b, (ulong)auxtraceIndex.Count);
                foreach (var (offset, size) in auxtraceIndex) { WriteU64(b, offset); WriteU64(b, size); }
            });
        }
        if (features.CapturedCode.Count > 0)
            Add((HeaderFeature)CapturedCode.FeatureBit, b => b.Write(CapturedCode.Encode(features.CapturedCode)));
        return result;
    }

    /// <summary>The BUILD_ID payload alone: HEADER_BUILD_ID records back to back (pipe mode sends them as records).</summary>
    public static byte[] EncodeBuildIds(IReadOnlyList<BuildIdEntry> entries)
    {
        var buffer = new ArrayBufferWriter<byte>();
        WriteBuildIds(buffer, entries);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>write_event_desc: u32 nr, u32 attr size, then per event: attr, u32 nr_ids, string name, u64 ids[].</summary>
    private static void WriteEventDesc(ArrayBufferWriter<byte> b, IReadOnlyList<EventAttrEntry> attrs, int attrSize)
    {
        WriteU32(b, (uint)attrs.Count);
        WriteU32(b, (uint)attrSize);
        foreach (EventAttrEntry entry in attrs)
        {
            AttrBytes.Write(entry.Attr, attrSize, b.GetSpan(attrSize));
            b.Advance(attrSize);
            WriteU32(b, (uint)entry.Ids.Length);
            WriteString(b, entry.Name);
            foreach (ulong id in entry.Ids)
                WriteU64(b, id);
        }
    }

    /// <summary>
    /// write_buildid (build-id.c): per DSO a <c>struct perf_record_header_build_id</c> {header; s32 pid;
    /// u8 build_id[20]; u8 size; u8 reserved[3]} (36 bytes) followed by the file name, NUL padded to 64.
    /// perf file mode leaves header.type 0; we put HEADER_BUILD_ID (67) there, which readers ignore and which
    /// makes the records self-describing (pipe mode uses the same struct with that type).
    /// </summary>
    private static void WriteBuildIds(ArrayBufferWriter<byte> b, IReadOnlyList<BuildIdEntry> entries)
    {
        const int FixedSize = 36;
        foreach (BuildIdEntry entry in entries)
        {
            if (entry.BuildId is not { Length: > 0 and <= BuildIdEntry.MaxBuildIdSize } || string.IsNullOrEmpty(entry.Filename))
                continue;  // perf has no way to store it; leaving it out is better than a corrupt table
            byte[] name = Encoding.UTF8.GetBytes(entry.Filename);
            int paddedName = Align(name.Length + 1, NameAlign);
            int size = FixedSize + paddedName;
            if (size > ushort.MaxValue)
                continue;

            Span<byte> record = b.GetSpan(size)[..size];
            record.Clear();
            ushort misc = (ushort)((entry.CpuMode & PerfRecordMisc.CpuModeMask) | PerfRecordMisc.BuildIdSize);
            new PerfEventHeader(PerfRecordType.HeaderBuildId, misc, (ushort)size).Write(record);
            BinaryPrimitives.WriteInt32LittleEndian(record[8..], entry.Pid);
            entry.BuildId.CopyTo(record[12..]);
            record[32] = (byte)entry.BuildId.Length;
            name.CopyTo(record[FixedSize..]);
            b.Advance(size);
        }
    }

    /// <summary>do_write_string: u32 length (including the NUL, rounded up to 64), then the padded bytes.</summary>
    private static void WriteString(ArrayBufferWriter<byte> b, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        int padded = Align(bytes.Length + 1, NameAlign);
        WriteU32(b, (uint)padded);
        Span<byte> span = b.GetSpan(padded)[..padded];
        span.Clear();
        bytes.CopyTo(span);
        b.Advance(padded);
    }

    private static void WriteU32(ArrayBufferWriter<byte> b, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b.GetSpan(4), value);
        b.Advance(4);
    }

    private static void WriteU64(ArrayBufferWriter<byte> b, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b.GetSpan(8), value);
        b.Advance(8);
    }

    private static int Align(int value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
