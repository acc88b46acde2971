using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>An mmap of a perf fd; unmapped exactly once on dispose.</summary>
internal sealed unsafe class MappedRegion : IDisposable
{
    public byte* Address { get; private set; }
    public long Length { get; }

    private MappedRegion(byte* address, long length) { Address = address; Length = length; }

    public static MappedRegion Map(PerfEventHandle fd, long length, long offset, bool writable, string what)
    {
        int prot = PROT_READ | (writable ? PROT_WRITE : 0);
        void* p = Sys.Mmap(null, (nuint)length, prot, MAP_SHARED, fd.Fd, offset);
        if (p == Sys.MapFailed)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new PerfException(PerfErrorExplainer.ExplainMmap(errno, what, length), errno);
        }
        return new MappedRegion((byte*)p, length);
    }

    public void Dispose()
    {
        if (Address == null) return;
        Sys.Munmap(Address, (nuint)Length);
        Address = null;
    }
}
