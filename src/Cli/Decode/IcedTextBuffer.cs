using Iced.Intel;

namespace DotnetPtrace.Cli.Decode;

/// <summary>Collects an Iced formatter's pieces in a reused buffer, so disassembling allocates no string per line.</summary>
internal sealed class IcedTextBuffer : FormatterOutput
{
    private char[] _buffer = new char[256];
    public int Length { get; private set; }
    public ReadOnlySpan<char> Chars => _buffer.AsSpan(0, Length);

    public void Clear() => Length = 0;

    public override void Write(string text, FormatterTextKind kind)
    {
        if (Length + text.Length > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + text.Length));
        text.CopyTo(_buffer.AsSpan(Length));
        Length += text.Length;
    }
}
