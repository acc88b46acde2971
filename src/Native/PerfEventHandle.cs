using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native;

/// <summary>Owns one perf event file descriptor; closing it stops the event and frees its ring.</summary>
public sealed class PerfEventHandle : SafeHandle
{
    public PerfEventHandle(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Sys.Close(Fd) == 0;
}
