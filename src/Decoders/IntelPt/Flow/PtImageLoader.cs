using System.Buffers.Binary;
using System.Globalization;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>An image file that cannot be used, with the path and what is wrong with it.</summary>
public sealed class PtImageException(string message) : Exception(message);

/// <summary>Fills a <see cref="PtImage"/> from raw files, memory dumps and ELF files.</summary>
public static class PtImageLoader
{
    public const int PageSize = 4096;

    /// <summary>
    /// Adds a memory dump: <paramref name="dumpPath"/> holds 4 KiB pages, <paramref name="addrPath"/> the little-endian
    /// u64 virtual address of each. Pages that follow each other in both files and memory become one section.
    /// </summary>
    public static int AddMemoryDump(PtImage image, string dumpPath, string addrPath)
    {
        byte[] pages = ReadAll(dumpPath);
        byte[] addrs = ReadAll(addrPath);
        if (addrs.Length % 8 != 0)
            throw new PtImageException($"{addrPath}: {addrs.Length} bytes is not a whole number of 8-byte addresses");
        int count = addrs.Length / 8;
        if ((long)count * PageSize > pages.Length)
            throw new PtImageException($"{dumpPath}: {pages.Length} bytes hold {pages.Length / PageSize} pages, but {addrPath} lists {count}");
        int sections = 0;
        for (int i = 0; i < count;)
        {
            ulong start = BinaryPrimitives.ReadUInt64LittleEndian(addrs.AsSpan(i * 8));
            int j = i + 1;
            while (j < count && BinaryPrimitives.ReadUInt64LittleEndian(addrs.AsSpan(j * 8)) == start + (ulong)(j - i) * PageSize) j++;
            ulong length = (ulong)(j - i) * PageSize;
            if (start + length < start)
                throw new PtImageException($"{addrPath}: page {i} at 0x{start:x} wraps the address space");
            image.Add(new PtSection($"{Path.GetFileName(dumpPath)}@{i * PageSize:x}", start, pages, i * PageSize, (int)length));
            sections++;
            i = j;
        }
        return sections;
    }

    /// <summary>Adds <paramref name="size"/> bytes (0: to the end) of a raw file from <paramref name="offset"/> at <paramref name="address"/>.</summary>
    public static void AddRaw(PtImage image, string path, ulong address, long offset = 0, long size = 0)
    {
        byte[] data = ReadAll(path);
        if (offset < 0 || offset >= data.Length)
            throw new PtImageException($"{path}: offset 0x{offset:x} is outside the file ({data.Length} bytes)");
        long length = size == 0 ? data.Length - offset : size;
        if (length <= 0 || offset + length > data.Length)
            throw new PtImageException($"{path}: range 0x{offset:x}+0x{length:x} is outside the file ({data.Length} bytes)");
        if (address + (ulong)length < address)
            throw new PtImageException($"{path}: 0x{length:x} bytes at 0x{address:x} wrap the address space");
        image.Add(new PtSection(path, address, data, (int)offset, (int)length));
    }

    /// <summary>
    /// Parses and loads "FILE:ADDR[:OFFSET-SIZE]" (numbers in hex with 0x, or decimal). The file name may contain ':'.
    /// </summary>
    public static void AddRawSpec(PtImage image, string spec)
    {
        if (!TryParseRawSpec(spec, out string file, out ulong addr, out long offset, out long size, out string? error))
            throw new PtImageException(error!);
        AddRaw(image, file, addr, offset, size);
    }

    public static bool TryParseRawSpec(string spec, out string file, out ulong address, out long offset, out long size, out string? error)
    {
        file = "";
        address = 0;
        offset = size = 0;
        error = null;
        int last = spec.LastIndexOf(':');
        if (last <= 0)
        {
            error = $"--image {spec}: expected FILE:ADDR[:OFFSET-SIZE]";
            return false;
        }
        string tail = spec[(last + 1)..];
        string head = spec[..last];
        if (tail.Contains('-'))
        {
            string[] range = tail.Split('-');
            int prev = head.LastIndexOf(':');
            if (range.Length != 2 || prev <= 0 || !TryNumber(range[0], out ulong off) || !TryNumber(range[1], out ulong sz)
                || !TryNumber(head[(prev + 1)..], out address) || sz == 0 || off > long.MaxValue || sz > long.MaxValue)
            {
                error = $"--image {spec}: expected FILE:ADDR[:OFFSET-SIZE] with a non-zero SIZE";
                return false;
            }
            offset = (long)off;
            size = (long)sz;
            file = head[..prev];
            return true;
        }
        if (!TryNumber(tail, out address))
        {
            error = $"--image {spec}: '{tail}' is not an address";
            return false;
        }
        file = head;
        return true;
    }

    public static bool TryNumber(string s, out ulong value)
    {
        s = s.Trim();
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>
    /// Adds the file-backed part of each PT_LOAD segment of an ELF file at its p_vaddr, or shifted so the lowest
    /// segment starts at <paramref name="loadAddress"/> (a shared object loaded there). Returns the segments added.
    /// </summary>
    public static int AddElf(PtImage image, string path, ulong? loadAddress = null)
    {
        byte[] data = ReadAll(path);
        ReadOnlySpan<byte> f = data;
        if (f.Length < 52 || f[0] != 0x7f || f[1] != (byte)'E' || f[2] != (byte)'L' || f[3] != (byte)'F')
            throw new PtImageException($"{path}: not an ELF file");
        bool is64 = f[4] == 2;
        if (f[4] is not (1 or 2)) throw new PtImageException($"{path}: unknown ELF class {f[4]}");
        if (f[5] != 1) throw new PtImageException($"{path}: only little-endian ELF files are supported");
        ulong phoff = is64 ? BinaryPrimitives.ReadUInt64LittleEndian(f[32..]) : BinaryPrimitives.ReadUInt32LittleEndian(f[28..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(f[(is64 ? 54 : 42)..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(f[(is64 ? 56 : 44)..]);
        int need = is64 ? 56 : 32;
        if (phentsize < need || phoff > (ulong)f.Length || (ulong)phnum * (ulong)phentsize > (ulong)f.Length - phoff)
            throw new PtImageException($"{path}: program headers lie outside the file");

        var loads = new List<(ulong Offset, ulong Vaddr, ulong FileSize)>();
        for (int i = 0; i < phnum; i++)
        {
            ReadOnlySpan<byte> ph = f.Slice((int)phoff + i * phentsize, need);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            if (type != 1) continue; // PT_LOAD
            ulong off, vaddr, filesz;
            if (is64)
            {
                off = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
                vaddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]);
                filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
            }
            else
            {
                off = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
                vaddr = BinaryPrimitives.ReadUInt32LittleEndian(ph[8..]);
                filesz = BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]);
            }
            if (off > (ulong)f.Length || filesz > (ulong)f.Length - off)
                throw new PtImageException($"{path}: PT_LOAD segment {i} (0x{off:x}+0x{filesz:x}) lies outside the file");
            loads.Add((off, vaddr, filesz));
        }
        if (loads.Count == 0) throw new PtImageException($"{path}: no PT_LOAD segments");
        ulong bias = loadAddress is ulong la ? la - loads.Min(l => l.Vaddr) : 0;
        int added = 0;
        foreach (var (off, vaddr, filesz) in loads)
        {
            if (filesz == 0) continue;
            image.Add(new PtSection(path, vaddr + bias, data, (int)off, (int)filesz));
            added++;
        }
        return added;
    }

    private static byte[] ReadAll(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new PtImageException($"{path}: {e.Message}");
        }
    }
}
