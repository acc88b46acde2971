using Iced.Intel;

namespace DotnetPtrace.Decoders.IntelPt.Flow;

/// <summary>One instruction of a block: where it is, how long, in which mode.</summary>
public readonly record struct PtInstruction(ulong Ip, int Size, PtExecMode Mode);

/// <summary>The instructions of a block, in order, without decoding (from the cached lengths).</summary>
public ref struct PtInstructionEnumerator
{
    private readonly ReadOnlySpan<byte> _lengths;
    private readonly PtExecMode _mode;
    private ulong _next;
    private int _index;

    public PtInstructionEnumerator(in PtBlock block)
    {
        _lengths = block.InstructionLengths;
        _mode = block.Mode;
        _next = block.Ip;
        _index = -1;
        Current = default;
    }

    public PtInstruction Current { get; private set; }

    public bool MoveNext()
    {
        if (++_index >= _lengths.Length) return false;
        int size = _lengths[_index];
        Current = new PtInstruction(_next, size, _mode);
        _next += (ulong)size;
        return true;
    }

    public readonly PtInstructionEnumerator GetEnumerator() => this;
}

public static class PtBlockExtensions
{
    /// <summary>The instructions of the block: <c>foreach (var insn in block.Instructions()) ...</c>.</summary>
    public static PtInstructionEnumerator Instructions(this in PtBlock block) => new(block);
}

/// <summary>
/// Instruction bytes and Iced decoding on demand, for output that shows more than addresses (disassembly, raw bytes).
/// One per thread; reuses its Iced decoders, so decoding an instruction allocates nothing.
/// </summary>
public sealed class PtInstructionReader
{
    private readonly PtImage _image;
    private readonly ReusableCodeReader _reader = new();
    private readonly Decoder _d16, _d32, _d64;
    private readonly byte[] _bytes = new byte[PtRunBuilder.MaxInstructionLength];

    public PtInstructionReader(PtImage image)
    {
        _image = image;
        _d16 = Decoder.Create(16, _reader, DecoderOptions.NoInvalidCheck);
        _d32 = Decoder.Create(32, _reader, DecoderOptions.NoInvalidCheck);
        _d64 = Decoder.Create(64, _reader, DecoderOptions.NoInvalidCheck);
    }

    /// <summary>The bytes of <paramref name="insn"/> (valid until the next call).</summary>
    public ReadOnlySpan<byte> Bytes(in PtInstruction insn)
    {
        int n = _image.Read(insn.Ip, _bytes.AsSpan(0, insn.Size));
        return _bytes.AsSpan(0, n);
    }

    /// <summary>Decodes <paramref name="insn"/> with Iced; false if its bytes are not all mapped or do not decode.</summary>
    public bool TryDecode(in PtInstruction insn, out Instruction instruction)
    {
        instruction = default;
        int n = _image.Read(insn.Ip, _bytes.AsSpan(0, Math.Min(insn.Size, _bytes.Length)));
        if (n != insn.Size) return false;
        _reader.Reset(_bytes, n);
        Decoder d = insn.Mode switch { PtExecMode.Bit64 => _d64, PtExecMode.Bit32 => _d32, _ => _d16 };
        d.IP = insn.Ip;
        d.Decode(out instruction);
        return !instruction.IsInvalid;
    }

    private sealed class ReusableCodeReader : CodeReader
    {
        private byte[] _data = [];
        private int _pos, _end;

        public void Reset(byte[] data, int length)
        {
            _data = data;
            _pos = 0;
            _end = length;
        }

        public override int ReadByte() => _pos < _end ? _data[_pos++] : -1;
    }
}
