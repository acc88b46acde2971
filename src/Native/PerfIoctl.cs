namespace DotnetPtrace.Native;

/// <summary>
/// The perf ioctl request numbers for x86-64/arm64 (from the 6.1 uapi header, evaluated with gcc).
/// _IO('$', n) for the argument-less ones, _IOW/_IOR with the argument size encoded for the rest.
/// </summary>
public static class PerfIoctl
{
    public const ulong Enable = 0x2400;
    public const ulong Disable = 0x2401;
    public const ulong Refresh = 0x2402;
    public const ulong Reset = 0x2403;
    public const ulong Period = 0x40082404;          // _IOW('$', 4, __u64)
    public const ulong SetOutput = 0x2405;
    public const ulong SetFilter = 0x40082406;       // _IOW('$', 6, char *)
    public const ulong Id = 0x80082407;              // _IOR('$', 7, __u64 *)
    public const ulong SetBpf = 0x40042408;          // _IOW('$', 8, __u32)
    public const ulong PauseOutput = 0x40042409;     // _IOW('$', 9, __u32)
    public const ulong QueryBpf = 0xc008240a;        // _IOWR('$', 10, struct perf_event_query_bpf *)
    public const ulong ModifyAttributes = 0x4008240b; // _IOW('$', 11, struct perf_event_attr *)

    /// <summary>PERF_IOC_FLAG_GROUP: apply enable/disable/reset to the whole group.</summary>
    public const ulong FlagGroup = 1;
}
