using System.Buffers;
using System.Text;
using DotnetPtrace.Decoders.IntelPt.Flow;
using Iced.Intel;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// ptxed's default text: each instruction's address and its Intel-syntax disassembly (Iced's formatter instead of
/// XED's), events in brackets, errors with offset and IP. Formats into the output buffer; Iced's formatter may
/// allocate small strings for operands.
/// </summary>
public sealed class InsnTextSink(IBufferWriter<byte> output, PtInstructionReader reader) : IPtFlowSink
{
    private readonly PtxedTextSink _text = new(output);
    private readonly IntelFormatter _formatter = new(new FormatterOptions { UppercaseHex = false, HexPrefix = "0x", HexSuffix = "", SpaceAfterOperandSeparator = true });
    private readonly IcedTextBuffer _chars = new();

    public void OnBlock(in PtBlock block)
    {
        foreach (PtInstruction insn in block.Instructions())
        {
            _chars.Clear();
            if (reader.TryDecode(insn, out Instruction instruction)) _formatter.Format(instruction, _chars);
            else _chars.Write("(bad)", FormatterTextKind.Text);
            Span<byte> span = output.GetSpan(20 + Encoding.UTF8.GetMaxByteCount(_chars.Length));
            System.Text.Unicode.Utf8.TryWrite(span, $"{insn.Ip:x16}  ", out int n);
            n += Encoding.UTF8.GetBytes(_chars.Chars, span[n..]);
            span[n++] = (byte)'\n';
            output.Advance(n);
        }
    }

    public void OnEvent(in PtEvent ev, long offset) => _text.OnEvent(ev, offset);
    public void OnError(PtFlowErrorKind kind, long offset, ulong ip, PtFlowError error) => _text.OnError(kind, offset, ip, error);
    public void OnEndOfTrace() => _text.OnEndOfTrace();
}
