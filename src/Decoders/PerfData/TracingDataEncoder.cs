using System.Buffers.Binary;
using System.Text;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>One tracepoint system and the format files of its events that the recording used.</summary>
public sealed record TracepointFormats(string System, IReadOnlyList<byte[]> Formats);

/// <summary>
/// The TRACING_DATA feature (bit 1): the tracefs format descriptions perf needs to decode RAW tracepoint samples;
/// perf refuses a file with tracepoint events and no tracing data ("broken or missing trace data"). Layout as
/// perf's trace-event-info.c writes it, version "0.6":
/// <code>
/// 23 8 68 "tracing" | "0.6\0" | u8 big_endian | u8 sizeof(long) | u32 page_size
/// "header_page\0" u64 size, bytes | "header_event\0" u64 size, bytes
/// u32 nr ftrace formats {u64 size, bytes}
/// u32 nr systems { "system\0" u32 nr {u64 size, bytes} }
/// u32 kallsyms size, bytes | u32 printk_formats size, bytes | u64 saved_cmdlines size, bytes
/// </code>
/// kallsyms, printk formats and saved cmdlines are left empty: perf resolves symbols itself and needs them only
/// for a few printk-style tracepoints.
/// </summary>
public static class TracingDataEncoder
{
    public static byte[] Encode(byte[] headerPage, byte[] headerEvent, IReadOnlyList<TracepointFormats> systems, int pageSize)
    {
        using var ms = new MemoryStream();
        ms.Write([23, 8, 68]);
        ms.Write("tracing"u8);
        ms.Write("0.6\0"u8);
        ms.WriteByte(BitConverter.IsLittleEndian ? (byte)0 : (byte)1);
        ms.WriteByte(8);   // sizeof(long) on the 64-bit machines we record on
        U32(ms, (uint)pageSize);
        ms.Write("header_page\0"u8);
        Blob64(ms, headerPage);
        ms.Write("header_event\0"u8);
        Blob64(ms, headerEvent);
        U32(ms, 0);   // no ftrace-internal event formats
        U32(ms, (uint)systems.Count);
        foreach (var system in systems)
        {
            ms.Write(Encoding.UTF8.GetBytes(system.System));
            ms.WriteByte(0);
            U32(ms, (uint)system.Formats.Count);
            foreach (var format in system.Formats) Blob64(ms, format);
        }
        U32(ms, 0);   // kallsyms
        U32(ms, 0);   // printk formats
        U64(ms, 0);   // saved cmdlines
        return ms.ToArray();
    }

    private static void Blob64(Stream s, byte[] bytes)
    {
        U64(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    private static void U32(Stream s, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        s.Write(b);
    }

    private static void U64(Stream s, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        s.Write(b);
    }
}
