using System.Runtime.CompilerServices;
using Iced.Intel;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>How the flow leaves a run: what its last instruction needs.</summary>
internal enum PtRunEnd : byte
{
    /// <summary>Not a branch: on to the next instruction (the run was cut, or ends at a special instruction).</summary>
    Next,
    /// <summary>Jcc/LOOP/JCXZ: one TNT bit.</summary>
    Cond,
    /// <summary>Near return: a taken TNT bit (compressed) or a TIP.</summary>
    Return,
    DirectJump,
    /// <summary>Direct near call: push the return address (unless it calls the next instruction), go to the target.</summary>
    DirectCall,
    /// <summary>Everything that needs a TIP: indirect jumps and calls, far transfers.</summary>
    Indirect,
}

/// <summary>
/// A run of instructions decoded once: from <see cref="Ip"/> straight on (no branch inside) to <see cref="EndIp"/>,
/// whose instruction ends the run when it needs trace or is one an event binds to (<see cref="Last"/>). A run that
/// ends for another reason (the section ends, the length cap, an undecodable successor) continues linearly.
/// The instruction lengths live in the cache's pool, so the instruction layer can list the run without decoding.
/// </summary>
internal struct PtRun
{
    public ulong Ip;
    public PtInsn Last;
    public int LengthStart;
    public int Count;
    public PtExecMode Mode;
    /// <summary>The last instruction is a branch or special instruction (else the run just continues).</summary>
    public bool EndsAtSpecial;
    public PtRunEnd End;
    /// <summary>Index (in the same cache) of the run at the fall-through IP, once known; -1 before.</summary>
    public int NextRun;
    /// <summary>Index (in the same cache) of the run at the direct branch target, once known; -1 before.</summary>
    public int TargetRun;

    public readonly ulong EndIp => Last.Ip;
}

/// <summary>
/// The decoded runs of one section, found by start address: a two-level table (4 KiB pages of slots, allocated
/// when first used) maps a section offset to its run, so a lookup is two array reads and hot loops never decode twice.
/// </summary>
internal sealed class PtBlockCache
{
    private const int PageBits = 12;
    private const int PageSize = 1 << PageBits;

    private readonly PtSection _section;
    private readonly int[]?[] _pages;
    internal PtRun[] Runs = new PtRun[64];
    internal int RunCount;
    internal byte[] Lengths = new byte[1024];
    internal int LengthCount;

    public PtBlockCache(PtSection section)
    {
        _section = section;
        _pages = new int[]?[(section.Length + PageSize - 1) >> PageBits];
    }

    public PtSection Section => _section;

    /// <summary>The index of the run starting at <paramref name="ip"/> (which must be inside the section) for <paramref name="mode"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Lookup(ulong ip, PtExecMode mode)
    {
        int off = (int)(ip - _section.Start);
        int[]? page = _pages[off >> PageBits];
        if (page == null) return -1;
        int idx = page[off & (PageSize - 1)] - 1;
        if (idx < 0 || Runs[idx].Mode != mode) return -1;
        return idx;
    }

    public int Add(in PtRun run, ReadOnlySpan<byte> lengths)
    {
        if (RunCount == Runs.Length) Array.Resize(ref Runs, Runs.Length * 2);
        if (LengthCount + lengths.Length > Lengths.Length) Array.Resize(ref Lengths, Math.Max(Lengths.Length * 2, LengthCount + lengths.Length));
        int idx = RunCount++;
        Runs[idx] = run;
        Runs[idx].LengthStart = LengthCount;
        lengths.CopyTo(Lengths.AsSpan(LengthCount));
        LengthCount += lengths.Length;
        int off = (int)(run.Ip - _section.Start);
        ref int[]? page = ref _pages[off >> PageBits];
        page ??= new int[PageSize];
        page[off & (PageSize - 1)] = idx + 1;
        return idx;
    }
}

/// <summary>Decodes runs with Iced into a section's cache. One per decoder: it owns the Iced decoders it reuses.</summary>
internal sealed class PtRunBuilder
{
    /// <summary>Longest run kept as one piece; longer straight-line code continues in the next run.</summary>
    public const int MaxRunLength = 1024;
    public const int MaxInstructionLength = 15;

    private readonly SpanCodeReader _reader = new();
    private readonly Decoder _decoder16, _decoder32, _decoder64;
    private readonly byte[] _lengths = new byte[MaxRunLength];
    private readonly byte[] _edge = new byte[MaxInstructionLength];

    public PtRunBuilder()
    {
        // libipt's length decoder does not reject reserved encodings; neither should we.
        const DecoderOptions options = DecoderOptions.NoInvalidCheck;
        _decoder16 = Decoder.Create(16, _reader, options);
        _decoder32 = Decoder.Create(32, _reader, options);
        _decoder64 = Decoder.Create(64, _reader, options);
    }

    private Decoder For(PtExecMode mode) => mode switch
    {
        PtExecMode.Bit64 => _decoder64,
        PtExecMode.Bit32 => _decoder32,
        _ => _decoder16,
    };

    /// <summary>
    /// Decodes one instruction at <paramref name="ip"/> (inside <paramref name="section"/>); bytes that run past the
    /// section end are read from the image like libipt does. BadInstruction when it cannot be decoded.
    /// </summary>
    public PtFlowError DecodeOne(PtImage image, PtSection section, ulong ip, PtExecMode mode, ulong cr3, out PtInsn insn, out Instruction instruction)
    {
        insn = default;
        instruction = default;
        if (mode == PtExecMode.Unknown) return PtFlowError.BadInstruction;
        int off = (int)(ip - section.Start);
        if (section.Length - off >= MaxInstructionLength)
        {
            _reader.Reset(section.Data, section.DataOffset + off, MaxInstructionLength);
        }
        else
        {
            int n = image.Read(ip, _edge, cr3);
            if (n == 0) return PtFlowError.NoMap;
            _reader.Reset(_edge, 0, n);
        }
        Decoder d = For(mode);
        d.IP = ip;
        d.Decode(out instruction);
        if (instruction.IsInvalid) return PtFlowError.BadInstruction;
        insn = PtInsnClassifier.Classify(instruction, ip);
        return PtFlowError.Ok;
    }

    /// <summary>Decodes the run that starts at <paramref name="ip"/> and adds it to the section's cache.</summary>
    public PtFlowError Build(PtImage image, PtSection section, ulong ip, PtExecMode mode, ulong cr3, out int index)
    {
        index = -1;
        PtFlowError e = DecodeOne(image, section, ip, mode, cr3, out PtInsn insn, out _);
        if (e != PtFlowError.Ok) return e;
        int count = 0;
        var run = new PtRun { Ip = ip, Mode = mode, NextRun = -1, TargetRun = -1 };
        while (true)
        {
            _lengths[count++] = insn.Size;
            run.Last = insn;
            if (insn.EndsRun)
            {
                run.EndsAtSpecial = true;
                break;
            }
            ulong next = insn.NextIp;
            if (count == MaxRunLength || !section.Contains(next)) break;
            // A successor that cannot be decoded ends the run; looking it up again reports the error.
            if (DecodeOne(image, section, next, mode, cr3, out insn, out _) != PtFlowError.Ok) break;
        }
        run.Count = count;
        run.End = !run.EndsAtSpecial ? PtRunEnd.Next : insn.Class switch
        {
            PtInsnClass.CondJump => PtRunEnd.Cond,
            PtInsnClass.Return => PtRunEnd.Return,
            PtInsnClass.Jump when insn.IsDirect && insn.Ext != PtInsnExt.Jmpabs => PtRunEnd.DirectJump,
            PtInsnClass.Call when insn.IsDirect => PtRunEnd.DirectCall,
            PtInsnClass.Other or PtInsnClass.Ptwrite => PtRunEnd.Next,
            _ => PtRunEnd.Indirect,
        };
        index = section.Cache.Add(run, _lengths.AsSpan(0, count));
        return PtFlowError.Ok;
    }

    /// <summary>A CodeReader over part of a byte array that can be re-pointed without allocating.</summary>
    private sealed class SpanCodeReader : CodeReader
    {
        private byte[] _data = [];
        private int _pos, _end;

        public void Reset(byte[] data, int start, int length)
        {
            _data = data;
            _pos = start;
            _end = start + length;
        }

        public override int ReadByte() => _pos < _end ? _data[_pos++] : -1;
    }
}
