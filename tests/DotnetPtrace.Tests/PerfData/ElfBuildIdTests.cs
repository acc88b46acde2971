using System.Buffers.Binary;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Tests.Infrastructure;
using Xunit;

namespace DotnetPtrace.Tests.PerfData;

public sealed class ElfBuildIdTests
{
    [Theory]
    [InlineData("/usr/bin/true")]
    [InlineData("/usr/bin/perf")]
    [InlineData("/usr/bin/readelf")]
    public void The_build_id_matches_readelf(string path)
    {
        Assert.True(File.Exists(path), $"{path} is expected on the test machine");
        string expected = TrueBinary.ReadelfBuildId(path);
        Assert.Equal(expected, Convert.ToHexStringLower(ElfBuildId.TryRead(path)!));
        Assert.Equal(expected, Convert.ToHexStringLower(ElfBuildId.TryRead(File.ReadAllBytes(path))!));
    }

    [Fact]
    public void Section_headers_are_searched_when_there_are_no_program_headers()
    {
        byte[] elf = File.ReadAllBytes("/usr/bin/true");
        byte[] expected = ElfBuildId.TryRead(elf)!;
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(56), 0);  // e_phnum = 0: only SHT_NOTE sections remain
        Assert.Equal(expected, ElfBuildId.TryRead(elf));
    }

    [Fact]
    public void A_32_bit_elf_is_read()
    {
        byte[] id = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4];
        // Elf32_Ehdr (52) + one Elf32_Phdr (32) + the note {4, 8, 3, "GNU\0", id}.
        var elf = new byte[52 + 32 + 12 + 4 + id.Length];
        "\x7f"u8.CopyTo(elf);
        "ELF"u8.CopyTo(elf.AsSpan(1));
        elf[4] = 1;  // ELFCLASS32
        elf[5] = 1;  // little endian
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(28), 52);  // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(42), 32);  // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(44), 1);   // e_phnum
        Span<byte> ph = elf.AsSpan(52);
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 4);               // PT_NOTE
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 84);         // p_offset
        BinaryPrimitives.WriteUInt32LittleEndian(ph[16..], (uint)(12 + 4 + id.Length));  // p_filesz
        BinaryPrimitives.WriteUInt32LittleEndian(ph[28..], 4);         // p_align
        Span<byte> note = elf.AsSpan(84);
        BinaryPrimitives.WriteUInt32LittleEndian(note, 4);
        BinaryPrimitives.WriteUInt32LittleEndian(note[4..], (uint)id.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(note[8..], 3);
        "GNU\0"u8.CopyTo(note[12..]);
        id.CopyTo(note[16..]);

        Assert.Equal(id, ElfBuildId.TryRead(elf));
    }

    [Fact]
    public void The_kernel_notes_give_the_build_id_perf_reports()
    {
        byte[] notes = File.ReadAllBytes("/sys/kernel/notes");
        byte[]? id = ElfBuildId.TryReadNotes(notes);
        ProcessResult perf = Perf.Run("buildid-list", "-k");
        Perf.AssertClean(perf, allowLost: false);
        Assert.Equal(perf.Stdout.Trim(), Convert.ToHexStringLower(id!));
    }

    [Fact]
    public void Garbage_truncated_and_missing_inputs_give_null_never_an_exception()
    {
        Assert.Null(ElfBuildId.TryRead("/nonexistent/file"));
        Assert.Null(ElfBuildId.TryRead("/proc/self"));          // a directory
        Assert.Null(ElfBuildId.TryRead("/etc/hostname"));       // not an ELF
        Assert.Null(ElfBuildId.TryRead(ReadOnlySpan<byte>.Empty));
        Assert.Null(ElfBuildId.TryReadNotes([1, 2, 3]));
        Assert.Null(ElfBuildId.TryReadNotes(new byte[64]));

        byte[] elf = File.ReadAllBytes("/usr/bin/true");
        byte[] expected = ElfBuildId.TryRead(elf)!;
        for (int length = 0; length < 2048; length++)
        {
            byte[]? id = ElfBuildId.TryRead(elf.AsSpan(0, length));
            Assert.True(id is null || id.AsSpan().SequenceEqual(expected), $"prefix of {length} bytes gave a wrong id");
        }

        var random = new Random(1234);
        for (int round = 0; round < 3000; round++)
        {
            byte[] mutated = elf[..4096];
            for (int flips = random.Next(1, 8); flips > 0; flips--)
                mutated[random.Next(round % 2 == 0 ? 128 : 4096)] ^= (byte)(1 << random.Next(8));
            _ = ElfBuildId.TryRead(mutated);  // must not throw
            byte[] noise = new byte[random.Next(0, 512)];
            random.NextBytes(noise);
            if (noise.Length >= 6)
                "\x7fELF\x02\x01"u8.CopyTo(noise);
            _ = ElfBuildId.TryRead(noise);
            _ = ElfBuildId.TryReadNotes(noise);
        }
    }
}
