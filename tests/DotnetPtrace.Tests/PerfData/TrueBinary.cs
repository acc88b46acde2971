using System.Buffers.Binary;
using DotnetPtrace.Tests.Infrastructure;
using Xunit;

namespace DotnetPtrace.Tests.PerfData;

/// <summary>A real binary of this machine to put in MMAP2 records, with where its code is.</summary>
internal sealed record TrueBinary(string Path, ulong TextVaddr, ulong TextOffset, ulong TextSize, ulong Entry)
{
    /// <summary>Where we pretend the PIE was loaded.</summary>
    public const ulong LoadBase = 0x5555_5555_0000;

    public ulong MapStart => LoadBase + (TextVaddr & ~0xfffUL);
    public ulong MapLength => ((TextVaddr & 0xfff) + TextSize + 0xfff) & ~0xfffUL;
    public ulong MapPgoff => TextOffset & ~0xfffUL;
    public ulong EntryIp => LoadBase + Entry;

    /// <summary>/usr/bin/true's executable PT_LOAD, read from its program headers (64-bit little-endian ELF).</summary>
    public static TrueBinary Load(string path = "/usr/bin/true")
    {
        byte[] elf = File.ReadAllBytes(path);
        ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(elf.AsSpan(24));
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(elf.AsSpan(32));
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(54));
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(56));
        for (int i = 0; i < phnum; i++)
        {
            ReadOnlySpan<byte> ph = elf.AsSpan((int)phoff + i * phentsize);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
            if (type == 1 && (flags & 1) != 0)  // PT_LOAD, PF_X
            {
                return new TrueBinary(path,
                    BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]),
                    entry);
            }
        }
        throw new InvalidOperationException($"{path} has no executable segment");
    }

    /// <summary>The build-id as binutils' readelf prints it: the independent oracle for ElfBuildId.</summary>
    public static string ReadelfBuildId(string path)
    {
        const string Readelf = "/usr/bin/readelf";
        Assert.True(File.Exists(Readelf), $"binutils' readelf is required at {Readelf} (apt-get install binutils)");
        string output = ProcessRunner.Run(Readelf, ["-n", path], TimeSpan.FromSeconds(30)).Stdout;
        string? line = output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("Build ID:", StringComparison.Ordinal));
        Assert.True(line is not null, $"readelf -n {path} printed no build-id:\n{output}");
        return line!["Build ID:".Length..].Trim();
    }
}
