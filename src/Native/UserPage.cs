namespace DotnetPtrace.Native;

/// <summary>
/// Field offsets of <c>struct perf_event_mmap_page</c> (the first page of every perf mmap), and the barrier
/// discipline for the four ring pointers. The kernel contract (uapi perf_event.h):
/// <code>
///   kernel: if (LOAD tail) { STORE data; smp_wmb(); STORE head }
///   user:   LOAD head; smp_rmb(); LOAD data; smp_mb(); STORE tail
/// </code>
/// so heads are read with acquire semantics and tails written after a full fence. On x86-64 both compile to
/// plain moves plus a compiler barrier; the full fence keeps us correct on arm64.
/// </summary>
internal static unsafe class UserPage
{
    public const int Version = 0;
    public const int Capabilities = 40;
    public const int TimeShift = 50;
    public const int TimeMult = 52;
    public const int TimeZero = 64;
    public const int TimeCycles = 80;
    public const int TimeMask = 88;
    public const int DataHead = 1024;
    public const int DataTail = 1032;
    public const int DataOffset = 1040;
    public const int DataSize = 1048;
    public const int AuxHead = 1056;
    public const int AuxTail = 1064;
    public const int AuxOffset = 1072;
    public const int AuxSize = 1080;

    /// <summary>Acquire load: no later read of ring data may be satisfied before this one (smp_rmb / load_acquire).</summary>
    public static ulong ReadHead(byte* page, int offset) => Volatile.Read(ref *(ulong*)(page + offset));

    /// <summary>Full fence, then the store: every read of ring data completes before the kernel may reuse it (smp_mb).</summary>
    public static void WriteTail(byte* page, int offset, ulong value)
    {
        Interlocked.MemoryBarrier();
        Volatile.Write(ref *(ulong*)(page + offset), value);
    }

    public static ulong Read(byte* page, int offset) => Volatile.Read(ref *(ulong*)(page + offset));

    public static void Write(byte* page, int offset, ulong value) => Volatile.Write(ref *(ulong*)(page + offset), value);
}
