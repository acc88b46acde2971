using System.Buffers.Binary;
using System.Text;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using DotnetPtrace.Decoders.Jit;
using DotnetPtrace.Decoders.PerfData;

namespace DotnetPtrace.Tests.Jit;

/// <summary>
/// How a decoder's image combines a process's captured anonymous code with its jitdump: compiled methods from the
/// jitdump win (a W^X runtime rewrites its code through another mapping, unseen by a capture), stub blocks from the
/// jitdump only fill what nothing else covers (they are logged before their stubs are written), and names come from
/// the jitdump (else the perf map).
/// </summary>
public sealed class JitImageTests : IDisposable
{
    private const int Pid = 31337;
    private const ulong Base = 0x7f00_0000_0000;
    private readonly string _dir = Directory.CreateTempSubdirectory("dotnet-ptrace-jitimage-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Jitdump_methods_override_captured_bytes_and_stubs_only_fill_gaps()
    {
        // Captured: the first page of a two-page anonymous mapping, all int3.
        byte[] captured = Enumerable.Repeat((byte)0xCC, 0x1000).ToArray();
        File.WriteAllBytes(Path.Combine(_dir, $"jit-{Pid}.dump"), JitDump(
            ("int32 [App] App::Hot()[Optimized]", Base + 0x100, [0x31, 0xC0, 0xC3]),                 // xor eax,eax; ret
            ("stub ReportStubBlock<Unknown>", Base + 0x200, Enumerable.Repeat((byte)0x00, 0x10).ToArray()),   // over captured code
            ("stub PrecodeStub", Base + 0x1800, [0xFF, 0x25, 0, 0, 0, 0])));                         // where nothing was captured
        var images = new ImageSource(captured: [new CapturedCode(Pid, Base, 1, "//anon", captured)]) { Jit = new JitCodeSource(_dir) };
        var image = new StreamImage(images);
        var process = new MappingSet();
        process.Insert(new CodeMapping(Base, Base + 0x2000, 0, "//anon", Exec: true, Pid));
        image.Set(process, new MappingSet());

        Assert.Equal(new byte[] { 0x31, 0xC0, 0xC3, 0xCC }, Read(image, Base + 0x100, 4));   // the method's bytes, then captured
        Assert.Equal(new byte[] { 0xCC, 0xCC }, Read(image, Base + 0x200, 2));              // the capture, not the stub block
        Assert.Equal(new byte[] { 0xFF, 0x25 }, Read(image, Base + 0x1800, 2));             // the stub where nothing else is
        Assert.Empty(Read(image, Base + 0x1900, 1));

        var symbols = new MappingSymbols(images);
        CodeMapping m = process.Find(Base + 0x101)!;
        Assert.True(symbols.TryFind(m, Base + 0x101, out string name, out ulong offset));
        Assert.Equal(("int32 [App] App::Hot()[Optimized]", 1UL), (name, offset));
    }

    [Fact]
    public void Without_a_jitdump_the_perf_map_names_the_code()
    {
        File.WriteAllText(Path.Combine(_dir, $"perf-{Pid}.map"), $"0x{Base + 0x40:x} 20 void [App] App::Cold()[Optimized]\n");
        var images = new ImageSource { Jit = new JitCodeSource(_dir) };
        var symbols = new MappingSymbols(images);
        var m = new CodeMapping(Base, Base + 0x1000, 0, "/memfd:doublemapper (deleted)", Exec: true, Pid);
        Assert.True(symbols.TryFind(m, Base + 0x45, out string name, out ulong offset));
        Assert.Equal(("void [App] App::Cold()[Optimized]", 5UL), (name, offset));
        Assert.False(symbols.TryFind(m, Base + 0x60, out _, out _));
    }

    /// <summary>A little-endian jitdump of JIT_CODE_LOAD records, as perfjitdump.cpp writes them.</summary>
    private static byte[] JitDump(params (string Name, ulong Address, byte[] Code)[] loads)
    {
        using var m = new MemoryStream();
        var h = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(h, JitDumpHeader.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), 40);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(12), 62);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), Pid);
        m.Write(h);
        ulong index = 0, time = 100;
        foreach (var (name, address, code) in loads)
        {
            byte[] nameBytes = Encoding.UTF8.GetBytes(name + "\0");
            var r = new byte[16 + 40];
            BinaryPrimitives.WriteUInt32LittleEndian(r, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(4), (uint)(r.Length + nameBytes.Length + code.Length));
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(8), time++);
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(16), Pid);
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(20), Pid);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), address);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(32), address);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(40), (ulong)code.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(48), ++index);
            m.Write(r);
            m.Write(nameBytes);
            m.Write(code);
        }
        return m.ToArray();
    }

    private static byte[] Read(StreamImage image, ulong address, int length)
    {
        var buffer = new byte[length];
        int n = image.Image.Read(address, buffer);
        return buffer[..n];
    }
}
