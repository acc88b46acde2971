using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Symbols;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Elf;

/// <summary>
/// A C++ function's PLT stub is named as perf names it: the function's name demangled without parameters, then
/// "@plt" (perf demangles the .dynsym name before it appends the suffix; our demangler keeps any "@..." suffix
/// apart, as it does for symbol versions). Oracle: objdump's stub labels, the mangled part run through c++filt -p.
/// </summary>
public sealed partial class PltDemangleTests
{
    [Fact]
    public void Cxx_stubs_are_demangled_before_the_plt_suffix()
    {
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-plt-cxx-").FullName;
        try
        {
            string source = Path.Combine(dir, "hash.cc"), binary = Path.Combine(dir, "hash");
            File.WriteAllText(source, """
                #include <string>
                #include <functional>
                int main(int argc, char **argv) { return (int)(std::hash<std::string>{}(std::string(argv[0])) & 1); }
                """);
            var cc = ProcessRunner.Run("g++", ["-O1", "-no-pie", "-o", binary, source], TimeSpan.FromSeconds(120));
            Assert.True(cc.ExitCode == 0, cc.ToString());
            var dump = ProcessRunner.Run("objdump", ["-d", "-w", "-j", ".plt", binary], TimeSpan.FromSeconds(30));
            var stubs = Stub().Matches(dump.Stdout).Select(m => (Address: Convert.ToUInt64(m.Groups[1].Value, 16), Mangled: m.Groups[2].Value)).ToList();
            Assert.NotEmpty(stubs);

            // The non-PIE file mapped whole at its first PT_LOAD (0x400000, file offset 0), as the loader maps it.
            var resolver = new SymbolResolver(demangle: DotnetPtrace.Native.CxxDemangler.Demangle);
            byte[] mmap = MmapRecord(pid: 42, start: 0x400000, length: (ulong)new FileInfo(binary).Length, binary);
            resolver.Observe(new PerfRecord { Header = PerfEventHeader.Read(mmap), Bytes = mmap });
            foreach (var (address, mangled) in stubs)
            {
                var filt = ProcessRunner.Run("c++filt", ["-p", mangled], TimeSpan.FromSeconds(30));
                string expected = filt.Stdout.Trim() + "@plt";
                ResolvedSymbol actual = resolver.Resolve(42, address, kernel: false);
                Assert.Equal((expected, 0UL), (actual.Name, actual.Offset));
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>PERF_RECORD_MMAP {header; u32 pid, tid; u64 addr, len, pgoff; char filename[]} (8-byte padded).</summary>
    private static byte[] MmapRecord(int pid, ulong start, ulong length, string path)
    {
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        int size = (40 + name.Length + 7) & ~7;
        byte[] r = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(r, (uint)PerfRecordType.Mmap);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(6), (ushort)size);
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(8), pid);
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(12), pid);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(16), start);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), length);
        name.CopyTo(r.AsSpan(40));
        return r;
    }

    /// <summary>"ADDR &lt;_Zmangled@plt&gt;:" (C++ stubs only).</summary>
    [GeneratedRegex(@"^([0-9a-f]+) <(_Z\S+)@plt>:$", RegexOptions.Multiline)]
    private static partial Regex Stub();
}
