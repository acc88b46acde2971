using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native;

/// <summary>
/// An mmap of a perf fd, unmapped exactly once on dispose; or memory laid out the same way by a simulation of the
/// kernel's producer (<see cref="Unowned"/>), which its owner frees.
/// </summary>
internal sealed unsafe class MappedRegion : IDisposable
{
    private readonly bool _owned;

    public byte* Address { get; private set; }
    public long Length { get; }

    private MappedRegion(byte* address, long length, bool owned) { Address = address; Length = length; _owned = owned; }

    public static MappedRegion Unowned(byte* address, long length) => new(address, length, owned: false);

    public static MappedRegion Map(PerfEventHandle fd, long length, long offset, bool writable, string what)
    {
        int prot = PROT_READ | (writable ? PROT_WRITE : 0);
        void* p = Sys.Mmap(null, (nuint)length, prot, MAP_SHARED, fd.Fd, offset);
        if (p == Sys.MapFailed)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new PerfException(PerfErrorExplainer.ExplainMmap(errno, what, length), errno);
        }
        return new MappedRegion((byte*)p, length, owned: true);
    }

    public void Dispose()
    {
        if (Address == null) return;
        if (_owned) Sys.Munmap(Address, (nuint)Length);
        Address = null;
    }
}
