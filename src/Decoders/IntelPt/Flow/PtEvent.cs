using System.Text.Unicode;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>The kinds of event the flow decoders report (libipt's enum pt_event_type, same meanings).</summary>
public enum PtEventType : byte
{
    /// <summary>Tracing was enabled (TIP.PGE, or a PSB+ with a FUP). <see cref="PtEvent.Resumed"/>: at the IP it stopped at.</summary>
    Enabled,
    /// <summary>Tracing was disabled by the instruction at the current IP (TIP.PGD).</summary>
    Disabled,
    /// <summary>Tracing was disabled asynchronously (FUP + TIP.PGD) at <see cref="PtEvent.From"/>.</summary>
    AsyncDisabled,
    /// <summary>An interrupt or exception (FUP + TIP): from <see cref="PtEvent.From"/> to <see cref="PtEvent.Ip"/>.</summary>
    AsyncBranch,
    Paging,
    AsyncPaging,
    Overflow,
    ExecMode,
    Tsx,
    Stop,
    Vmcs,
    AsyncVmcs,
    Exstop,
    Mwait,
    Pwre,
    Pwrx,
    Ptwrite,
    Tick,
    Cbr,
    Mnt,
    /// <summary>Internal: an indirect branch target (consumed by the block decoder).</summary>
    Tip,
    /// <summary>Internal: conditional branch outcomes (consumed by the block decoder).</summary>
    Tnt,
    Iflags,
    Interrupt,
    Iret,
    Smi,
    Rsm,
    Sipi,
    Init,
    Vmentry,
    Vmexit,
    Shutdown,
    Uintr,
    Uiret,
    Trig,
    /// <summary>Internal placeholder that binds a packet without producing an event.</summary>
    Ignore,
    /// <summary>No event (the block decoder's "nothing current").</summary>
    Invalid = 0xff,
}

/// <summary>The execution mode from MODE.Exec: CS.L gives 64-bit, else CS.D gives 32-bit, else 16-bit.</summary>
public enum PtExecMode : byte
{
    Unknown = 0,
    Bit16 = 16,
    Bit32 = 32,
    Bit64 = 64,
}

/// <summary>Yes/no details of an event, by kind.</summary>
[Flags]
public enum PtEventBits : ushort
{
    None = 0,
    Resumed = 1 << 0,
    NonRoot = 1 << 1,
    Speculative = 1 << 2,
    Aborted = 1 << 3,
    PwreHw = 1 << 4,
    PwrxInterrupt = 1 << 5,
    PwrxStore = 1 << 6,
    PwrxAutonomous = 1 << 7,
    Iflag = 1 << 8,
    HasCr2 = 1 << 9,
    HasVector = 1 << 10,
    HasVmxr = 1 << 11,
    HasVmxq = 1 << 12,
    Mult = 1 << 13,
}

/// <summary>
/// One event of the trace: a flat value (no allocation), with fields whose meaning depends on <see cref="Type"/>.
/// <see cref="Ip"/> is the IP the event binds to (enabled/disabled/overflow/exec mode/tsx/... IP, the branch target
/// of an async branch, the TIP target); <see cref="From"/> is where an async branch or async disable happened;
/// <see cref="Payload"/> carries CR3, the VMCS base, MNT/PTWRITE payloads, MWAIT hints, TNT bits or CR2.
/// Status updates (<see cref="StatusUpdate"/>) restate the state a PSB+ carries and are not printed by ptxed.
/// </summary>
public struct PtEvent
{
    public PtEventType Type;
    /// <summary>The event has no IP (its IP field is meaningless).</summary>
    public bool IpSuppressed;
    /// <summary>The event restates state from a PSB+ rather than reporting a change.</summary>
    public bool StatusUpdate;
    /// <summary><see cref="Tsc"/> is valid.</summary>
    public bool HasTsc;
    public PtEventBits Bits;
    /// <summary>Exec mode, TNT bit count, PTWRITE size, CBR ratio, vector, TRIG TRBV (by kind).</summary>
    public byte Small;
    /// <summary>PWRE state / PWRX last C-state.</summary>
    public byte State;
    /// <summary>PWRE sub-state / PWRX deepest C-state.</summary>
    public byte SubState;
    public ushort Icnt;
    /// <summary>MWAIT extensions.</summary>
    public uint Aux;
    public ulong Ip;
    public ulong From;
    public ulong Payload;
    /// <summary>VMEXIT VMXR.</summary>
    public ulong Payload2;
    public ulong Tsc;
    public uint LostMtc;
    public uint LostCyc;

    public readonly bool Has(PtEventBits bit) => (Bits & bit) != 0;
    public void Set(PtEventBits bit, bool on) => Bits = on ? Bits | bit : Bits & ~bit;

    public readonly bool Resumed => Has(PtEventBits.Resumed);
    public readonly PtExecMode Mode => (PtExecMode)Small;
    public readonly ulong Cr3 => Payload;
    public readonly ulong VmcsBase => Payload;
    public readonly int CbrRatio => Small;
    public readonly int TntSize => Small;
    public readonly ulong TntBits => Payload;

    public static PtEvent Invalid => new() { Type = PtEventType.Invalid };

    public override readonly string ToString()
    {
        Span<byte> buffer = stackalloc byte[160];
        return PtEventText.TryFormat(this, buffer, out int n) ? System.Text.Encoding.UTF8.GetString(buffer[..n]) : Type.ToString();
    }
}

/// <summary>ptxed's text for events (print_event without --event:ip / --event:time), e.g. "enabled", "exec mode: 64-bit".</summary>
public static class PtEventText
{
    public static string ModeName(PtExecMode mode) => mode switch
    {
        PtExecMode.Unknown => "<unknown>",
        PtExecMode.Bit16 => "16-bit",
        PtExecMode.Bit32 => "32-bit",
        PtExecMode.Bit64 => "64-bit",
        _ => "<invalid>",
    };

    /// <summary>Writes the text between ptxed's brackets as UTF-8, without allocating.</summary>
    public static bool TryFormat(in PtEvent ev, Span<byte> dest, out int written)
    {
        switch (ev.Type)
        {
            case PtEventType.Enabled: return Utf8.TryWrite(dest, $"{(ev.Resumed ? "resumed" : "enabled")}", out written);
            case PtEventType.Disabled or PtEventType.AsyncDisabled: return Utf8.TryWrite(dest, $"disabled", out written);
            case PtEventType.AsyncBranch: return Utf8.TryWrite(dest, $"interrupt", out written);
            case PtEventType.Paging or PtEventType.AsyncPaging:
                return Utf8.TryWrite(dest, $"paging, cr3: {ev.Payload:x16}{(ev.Has(PtEventBits.NonRoot) ? ", nr" : "")}", out written);
            case PtEventType.Overflow: return Utf8.TryWrite(dest, $"overflow", out written);
            case PtEventType.ExecMode: return Utf8.TryWrite(dest, $"exec mode: {ModeName(ev.Mode)}", out written);
            case PtEventType.Tsx:
                return Utf8.TryWrite(dest, $"{(ev.Has(PtEventBits.Aborted) ? "aborted" : ev.Has(PtEventBits.Speculative) ? "begin transaction" : "committed")}", out written);
            case PtEventType.Stop: return Utf8.TryWrite(dest, $"stopped", out written);
            case PtEventType.Vmcs or PtEventType.AsyncVmcs: return Utf8.TryWrite(dest, $"vmcs, base: {ev.Payload:x16}", out written);
            case PtEventType.Exstop: return Utf8.TryWrite(dest, $"exstop", out written);
            case PtEventType.Mwait: return Utf8.TryWrite(dest, $"mwait {(uint)ev.Payload:x} {ev.Aux:x}", out written);
            case PtEventType.Pwre:
                return Utf8.TryWrite(dest, $"pwre c{(ev.State + 1) & 0xf}.{(ev.SubState + 1) & 0xf}{(ev.Has(PtEventBits.PwreHw) ? " hw" : "")}", out written);
            case PtEventType.Pwrx:
                return Utf8.TryWrite(dest,
                    $"pwrx {(ev.Has(PtEventBits.PwrxInterrupt) ? "int: " : "")}{(ev.Has(PtEventBits.PwrxStore) ? "st: " : "")}{(ev.Has(PtEventBits.PwrxAutonomous) ? "hw: " : "")}c{(ev.State + 1) & 0xf} (c{(ev.SubState + 1) & 0xf})",
                    out written);
            case PtEventType.Ptwrite: return Utf8.TryWrite(dest, $"ptwrite: {ev.Payload:x}", out written);
            case PtEventType.Tick: return Utf8.TryWrite(dest, $"tick", out written);
            case PtEventType.Cbr: return Utf8.TryWrite(dest, $"cbr: {ev.Small:x}", out written);
            case PtEventType.Mnt: return Utf8.TryWrite(dest, $"mnt: {ev.Payload:x}", out written);
            case PtEventType.Tip: return Utf8.TryWrite(dest, $"tip: {ev.Ip:x}", out written);
            case PtEventType.Tnt:
            {
                written = 0;
                if (!Utf8.TryWrite(dest, $"tnt: ", out written)) return false;
                for (int i = ev.Small - 1; i >= 0; i--)
                {
                    if (written >= dest.Length) return false;
                    dest[written++] = (byte)(((ev.Payload >> i) & 1) != 0 ? '!' : '.');
                }
                return true;
            }
            case PtEventType.Iflags: return Utf8.TryWrite(dest, $"interrupts {(ev.Has(PtEventBits.Iflag) ? "enabled" : "disabled")}", out written);
            case PtEventType.Interrupt:
                return ev.Has(PtEventBits.HasCr2)
                    ? Utf8.TryWrite(dest, $"interrupt {ev.Small}, cr2: {ev.Payload:x16}", out written)
                    : Utf8.TryWrite(dest, $"interrupt {ev.Small}", out written);
            case PtEventType.Iret: return Utf8.TryWrite(dest, $"iret", out written);
            case PtEventType.Smi: return Utf8.TryWrite(dest, $"smi", out written);
            case PtEventType.Rsm: return Utf8.TryWrite(dest, $"rsm", out written);
            case PtEventType.Sipi: return Utf8.TryWrite(dest, $"sipi: {ev.Small:x}", out written);
            case PtEventType.Init: return Utf8.TryWrite(dest, $"init", out written);
            case PtEventType.Vmentry: return Utf8.TryWrite(dest, $"vmentry", out written);
            case PtEventType.Vmexit:
                return Utf8.TryWrite(dest,
                    $"vmexit{(ev.Has(PtEventBits.HasVector) ? ", intr: " : "")}{(ev.Has(PtEventBits.HasVector) ? ev.Small.ToString() : "")}{(ev.Has(PtEventBits.HasVmxr) ? $", vmxr: {ev.Payload2:x16}" : "")}{(ev.Has(PtEventBits.HasVmxq) ? $", vmxq: {ev.Payload:x16}" : "")}",
                    out written);
            case PtEventType.Shutdown: return Utf8.TryWrite(dest, $"shutdown", out written);
            case PtEventType.Uintr: return Utf8.TryWrite(dest, $"uintr {ev.Small}", out written);
            case PtEventType.Uiret: return Utf8.TryWrite(dest, $"uiret", out written);
            case PtEventType.Trig:
                return Utf8.TryWrite(dest,
                    $"trig {ev.Small:x2}{(ev.Has(PtEventBits.Mult) ? ", mult" : "")}{(ev.Icnt != 0 ? ", icnt: " : "")}{(ev.Icnt != 0 ? ev.Icnt.ToString() : "")}",
                    out written);
            default: return Utf8.TryWrite(dest, $"{ev.Type}", out written);
        }
    }
}
