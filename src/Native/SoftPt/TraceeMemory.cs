using System.Runtime.InteropServices;
using DotnetPtrace.Native.Interop;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>
/// Reads a traced process's memory through /proc/PID/mem. Unlike process_vm_readv it also reads pages mapped
/// without read permission (the kernel reads them for the tracer), and one descriptor serves every read. The
/// descriptor is bound to the address space that existed when it was opened: reopen after an exec.
/// </summary>
internal sealed unsafe class TraceeMemory : IDisposable
{
    private const int PageSize = 4096;
    private int _fd;

    public TraceeMemory(int pid)
    {
        _fd = Sys.Open($"/proc/{pid}/mem", O_RDONLY | O_CLOEXEC);
        if (_fd < 0)
            throw new PerfException($"cannot read the memory of pid {pid}: /proc/{pid}/mem: {PerfErrorExplainer.Strerror(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>
    /// The bytes of [address, address+length), or null when none of it can be read (the [vsyscall] page). Pages that
    /// cannot be read inside a readable range (a file mapping past the end of its file) read as zeros.
    /// </summary>
    public byte[]? TryRead(ulong address, ulong length)
    {
        if (length == 0 || length > int.MaxValue) return null;
        var bytes = new byte[length];
        if (ReadFully(address, bytes)) return bytes;
        bool any = false;
        for (ulong off = 0; off < length; off += PageSize)
        {
            int n = (int)Math.Min(PageSize, length - off);
            var page = bytes.AsSpan((int)off, n);
            if (ReadFully(address + off, page)) any = true;
            else page.Clear();
        }
        return any ? bytes : null;
    }

    private bool ReadFully(ulong address, Span<byte> destination)
    {
        fixed (byte* p = destination)
        {
            int done = 0;
            while (done < destination.Length)
            {
                nint r = Sys.Pread(_fd, p + done, (nuint)(destination.Length - done), (long)(address + (ulong)done));
                if (r <= 0)
                {
                    if (r < 0 && Marshal.GetLastPInvokeError() == 4 /* EINTR */) continue;
                    return false;
                }
                done += (int)r;
            }
        }
        return true;
    }

    public void Dispose()
    {
        if (_fd >= 0) { Sys.Close(_fd); _fd = -1; }
    }
}
