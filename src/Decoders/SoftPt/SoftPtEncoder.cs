using System.Buffers;
using DotnetPtrace.Decoders.IntelPt;

namespace DotnetPtrace.Decoders.SoftPt;

/// <summary>
/// Turns one thread's recorded execution into the Intel PT bytes the hardware would have written for it with
/// user-only tracing (CPL &gt; 0) and the given <see cref="SoftPtOptions"/>:
/// <list type="bullet">
/// <item>PSB+ first (PSB, TSC, TMA, CBR, MODE.Exec, FUP at the first instruction, PSBEND), then again at the first
/// instruction boundary after each PSB period of bytes, with the FUP at the next instruction.</item>
/// <item>A TNT bit per conditional branch (TNT-8, or TNT-64 with <see cref="SoftPtOptions.LongTnt"/>), flushed
/// before any other packet; a TIP per indirect jump/call and far transfer; near RETs compressed to a taken TNT bit
/// when the decoders' call stacks predict them (<see cref="ReturnCompression"/>), else a TIP.</item>
/// <item>A kernel entry (SYSCALL, SYSENTER, INT n, INT3, INT1) sends TIP.PGD with the IP suppressed; the next user
/// instruction (the return, a signal handler, a new image after exec, the interrupted IP after sigreturn) gets
/// MODE.Exec + TIP.PGE.</item>
/// <item>An asynchronous exit (a signal marker, a next IP the instruction cannot reach, the end of the thread)
/// sends FUP with the IP that did not execute + TIP.PGD. When that IP is not known (after an indirect branch or a
/// return) the branch itself ends tracing with TIP.PGD. After a conditional branch the direction cannot be known
/// either: it is sent not taken, which lists the same instructions.</item>
/// <item>Code that was not captured (or does not decode) is left out as if it were not traced: FUP + TIP.PGD before
/// it, TIP.PGE after it, and counted in <see cref="SoftPtStatistics.UndecodableSteps"/>.</item>
/// <item>Timing from the deterministic clock: see <see cref="TimedPacketWriter"/>.</item>
/// </list>
/// Each distinct instruction is decoded once (per address space) and the classification cached; nothing is
/// allocated per instruction. One encoder can encode many threads, one at a time (it is not thread-safe).
/// </summary>
public sealed class SoftPtEncoder
{
    private readonly SoftPtOptions _options;
    private readonly InstructionClassifier _classifier = new();
    private readonly TimedPacketWriter _writer;
    private readonly ReturnCompression _returns = new();

    public SoftPtEncoder(SoftPtOptions options)
    {
        if (options.Validate() is { } error) throw new ArgumentException(error, nameof(options));
        _options = options;
        _writer = new TimedPacketWriter(options);
    }

    public SoftPtOptions Options => _options;

    /// <summary>Encodes <paramref name="thread"/> of <paramref name="recording"/> into <paramref name="output"/>.</summary>
    /// <exception cref="InvalidDataException">The recording is inconsistent (unknown address space, clock going backwards).</exception>
    public SoftPtStatistics Encode(ExecutionRecording recording, ThreadExecution thread, IBufferWriter<byte> output) =>
        EncodeCore(recording, thread, output, null);

    /// <inheritdoc cref="Encode(ExecutionRecording, ThreadExecution, IBufferWriter{byte})"/>
    public SoftPtStatistics Encode(ExecutionRecording recording, ThreadExecution thread, Stream output) =>
        EncodeCore(recording, thread, null, output);

    private SoftPtStatistics EncodeCore(ExecutionRecording recording, ThreadExecution thread, IBufferWriter<byte>? writer, Stream? stream)
    {
        var stats = new SoftPtStatistics { Tid = thread.Tid };
        _writer.Begin(writer, stream, stats);
        _returns.Reset();
        bool branch = _options.Branch;
        bool retComp = _options.RetCompression && branch;

        ReadOnlySpan<ulong> steps = thread.Steps.AsSpan();
        var clock = new ClockCursor(thread);
        AddressSpace space = FindSpace(recording, thread, thread.AddressSpaceId, -1);
        var cache = _classifier.CacheFor(space);
        bool started = false, enabled = false;
        ulong lastTsc = 0;

        int j = 0;
        while (j < steps.Length)
        {
            ulong entry = steps[j];
            if (StepMarker.IsMarker(entry))
            {
                // Markers before the first instruction, or after an undecodable step.
                var kind = StepMarker.KindOf(entry);
                if (kind == StepMarker.Kind.Exit) break;
                if (kind == StepMarker.Kind.Exec)
                {
                    space = FindSpace(recording, thread, (int)StepMarker.ArgumentOf(entry), j);
                    cache = _classifier.CacheFor(space);
                }
                j++;
                continue;
            }

            ulong ip = entry;
            ulong tsc = _options.TscOf(clock.TimeOf(j));
            if (tsc < lastTsc)
                throw new InvalidDataException($"thread {thread.Tid}: time goes backwards at step {j} (time {clock.TimeOf(j)}, TSC 0x{tsc:x} after 0x{lastTsc:x})");
            lastTsc = tsc;
            var insn = _classifier.Classify(space, cache, ip);

            // What follows: markers up to the next instruction.
            int k = j + 1;
            bool signal = false, exit = false;
            AddressSpace? nextSpace = null;
            while (k < steps.Length && StepMarker.IsMarker(steps[k]))
            {
                ulong marker = steps[k++];
                switch (StepMarker.KindOf(marker))
                {
                    case StepMarker.Kind.Signal: signal = true; break;
                    case StepMarker.Kind.Exec: nextSpace = FindSpace(recording, thread, (int)StepMarker.ArgumentOf(marker), k - 1); break;
                    case StepMarker.Kind.Exit: exit = true; break;
                }
                if (exit) break;
            }
            bool hasNext = k < steps.Length && !exit;
            ulong next = hasNext ? steps[k] : 0;
            // The instruction's successor was not reached the ordinary way: a kernel entry happened after it.
            bool interrupted = signal || !hasNext || nextSpace != null;

            if (insn.Kind == SoftPtInstructionKind.Undecodable)
            {
                stats.UndecodableSteps++;
                if (enabled)
                {
                    _writer.AdvanceTo(tsc);
                    _writer.AsyncDisable(ip, tsc, branch);
                    stats.AsynchronousExits++;
                    enabled = false;
                }
            }
            else
            {
                if (!started)
                {
                    _writer.StartClock(tsc);
                    _writer.PsbPlus(ip, enabled: true, tsc);
                    _returns.OnPsb();
                    started = enabled = true;
                    stats.FirstTsc = tsc;
                }
                else
                {
                    _writer.AdvanceTo(tsc);
                    if (!enabled)
                    {
                        _writer.Enable(ip, tsc);
                        enabled = true;
                    }
                }
                if (_writer.PsbDue)
                {
                    _writer.PsbPlus(ip, enabled: true, tsc);
                    _returns.OnPsb();
                }
                stats.Instructions++;
                stats.LastTsc = tsc;
                enabled = EncodeInstruction(insn, ip, tsc, interrupted, next, branch, retComp, stats);
            }

            if (nextSpace != null)
            {
                space = nextSpace;
                cache = _classifier.CacheFor(space);
            }
            if (exit) break;
            j = k;
        }

        _writer.End();
        stats.Bytes = _writer.Output.Offset;
        stats.DistinctInstructions = _classifier.Decoded;
        return stats;
    }

    /// <summary>The packets of one executed instruction; returns whether tracing is still enabled after it.</summary>
    private bool EncodeInstruction(in ClassifiedInstruction insn, ulong ip, ulong tsc, bool interrupted, ulong next,
        bool branch, bool retComp, SoftPtStatistics stats)
    {
        ulong fallThrough = ip + insn.Length;
        switch (insn.Kind)
        {
            case SoftPtInstructionKind.Other:
                if (interrupted || next != fallThrough) return AsyncExit(fallThrough, tsc, branch, stats);
                return true;

            case SoftPtInstructionKind.Conditional:
                stats.ConditionalBranches++;
                if (!interrupted && (next == fallThrough || next == insn.Target))
                {
                    if (branch) _writer.AddTnt(next != fallThrough, tsc);
                    return true;
                }
                // Interrupted right after the branch: its direction is not in the record. Not taken lists the same
                // instructions (the interrupted IP itself never runs).
                if (branch) _writer.AddTnt(false, tsc);
                return AsyncExit(fallThrough, tsc, branch, stats);

            case SoftPtInstructionKind.DirectCall:
                // Zero-length calls (to the next instruction, for PIC) have no matching RET: not on the stack.
                if (insn.Target != fallThrough) _returns.OnCall(fallThrough);
                goto case SoftPtInstructionKind.DirectJump;

            case SoftPtInstructionKind.DirectJump:
                if (interrupted || next != insn.Target) return AsyncExit(insn.Target, tsc, branch, stats);
                return true;

            case SoftPtInstructionKind.IndirectCall:
                _returns.OnCall(fallThrough);
                goto case SoftPtInstructionKind.IndirectJump;

            case SoftPtInstructionKind.IndirectJump:
            case SoftPtInstructionKind.FarTransfer:
                stats.IndirectBranches++;
                if (interrupted) return UntracedTarget(tsc, stats);
                if (branch) _writer.Tip(PtPacketKind.Tip, next, tsc);
                return true;

            case SoftPtInstructionKind.Return:
                if (interrupted)
                {
                    _returns.OnUntracedReturn();
                    stats.UncompressedReturns++;
                    return UntracedTarget(tsc, stats);
                }
                if (_returns.TryCompress(next, retComp))
                {
                    stats.CompressedReturns++;
                    _writer.AddTnt(true, tsc);
                }
                else
                {
                    stats.UncompressedReturns++;
                    if (branch) _writer.Tip(PtPacketKind.Tip, next, tsc);
                }
                return true;

            case SoftPtInstructionKind.KernelEntry:
                stats.KernelEntries++;
                _writer.DisableSuppressed(tsc);
                return false;

            default:
                throw new InvalidOperationException($"internal error: unexpected instruction kind {insn.Kind}");
        }
    }

    /// <summary>FUP at the IP that did not run + TIP.PGD.</summary>
    private bool AsyncExit(ulong interruptedIp, ulong tsc, bool branch, SoftPtStatistics stats)
    {
        stats.AsynchronousExits++;
        _writer.AsyncDisable(interruptedIp, tsc, withFup: branch);
        return false;
    }

    /// <summary>A branch whose target is not in the record ends tracing itself: TIP.PGD, IP suppressed.</summary>
    private bool UntracedTarget(ulong tsc, SoftPtStatistics stats)
    {
        stats.AsynchronousExits++;
        _writer.DisableSuppressed(tsc);
        return false;
    }

    private static AddressSpace FindSpace(ExecutionRecording recording, ThreadExecution thread, int id, int step)
    {
        foreach (var space in recording.AddressSpaces)
            if (space.Id == id) return space;
        string where = step < 0 ? "starts in" : $"execs at step {step} into";
        throw new InvalidDataException($"thread {thread.Tid} {where} address space {id}, which the recording does not contain");
    }

    /// <summary>
    /// <see cref="ThreadExecution.TimeOf"/> for increasing step indexes, walking the checkpoints once instead of a
    /// binary search per step.
    /// </summary>
    private struct ClockCursor
    {
        private readonly List<(int Index, long Time)> _clock;
        private readonly int _tid;
        private int _next; // first checkpoint with Index > the last index asked for

        public ClockCursor(ThreadExecution thread)
        {
            _clock = thread.Clock;
            _tid = thread.Tid;
            _next = 0;
            for (int i = 1; i < _clock.Count; i++)
                if (_clock[i].Index <= _clock[i - 1].Index)
                    throw new InvalidDataException($"thread {thread.Tid}: clock checkpoint {i} (step {_clock[i].Index}) is not after the one before");
        }

        public long TimeOf(int index)
        {
            if (_clock.Count == 0) return index;
            while (_next < _clock.Count && _clock[_next].Index <= index) _next++;
            if (_next == 0) return _clock[0].Time - (_clock[0].Index - index);
            var (at, time) = _clock[_next - 1];
            return time + (index - at);
        }
    }
}
