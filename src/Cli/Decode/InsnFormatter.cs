using System.Buffers;
using System.Text;
using DotnetPtrace.Decoders.IntelPt.Flow;
using DotnetPtrace.Decoders.IntelPt.Sideband;
using Iced.Intel;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// Each instruction: its address, the function it is in (symbol+offset, from the mapped ELF file's symbols) and its
/// Intel-syntax disassembly (Iced). Events in brackets, errors with offset and IP; "# pid P tid T" where the
/// thread changes. Each distinct instruction is formatted once (Iced, symbol lookup) and its line kept, so a hot loop
/// costs a copy per instruction; the kept lines go when the image changes (exec, mmap, another process).
/// </summary>
internal sealed class InsnFormatter(IBufferWriter<byte> output, MappingSymbols symbols) : FlowFormatter(output)
{
    private readonly IntelFormatter _formatter = new(new FormatterOptions { UppercaseHex = false, HexPrefix = "0x", HexSuffix = "", SpaceAfterOperandSeparator = true });
    private readonly IcedTextBuffer _chars = new();
    private PtInstructionReader? _reader;
    private const int MaxKeptLines = 1 << 20;
    private readonly Dictionary<ulong, byte[]> _lines = [];
    private int _imageVersion = -1;
    private byte[] _scratch = new byte[2048];
    private int _headerTid = int.MinValue;

    public override void Begin(StreamContext context)
    {
        base.Begin(context);
        _reader = new PtInstructionReader(context.Image);
        _headerTid = int.MinValue;
    }

    public override void Block(in PtBlock block)
    {
        if (Context.Tid != _headerTid)
        {
            _headerTid = Context.Tid;
            Span<byte> h = Output.GetSpan(64);
            System.Text.Unicode.Utf8.TryWrite(h, $"# pid {Context.Pid} tid {Context.Tid}\n", out int hn);
            Output.Advance(hn);
        }
        if (Context.Image.Version != _imageVersion || _lines.Count > MaxKeptLines)
        {
            _imageVersion = Context.Image.Version;
            _lines.Clear();
        }
        foreach (PtInstruction insn in block.Instructions())
        {
            if (!_lines.TryGetValue(insn.Ip, out byte[]? line)) _lines[insn.Ip] = line = Format(insn);
            line.CopyTo(Output.GetSpan(line.Length));
            Output.Advance(line.Length);
        }
    }

    private byte[] Format(in PtInstruction insn)
    {
        _chars.Clear();
        if (_reader!.TryDecode(insn, out Instruction instruction)) _formatter.Format(instruction, _chars);
        else _chars.Write("(bad)", FormatterTextKind.Text);
        int need = 1024 + Encoding.UTF8.GetMaxByteCount(_chars.Length);
        if (_scratch.Length < need) _scratch = new byte[need];
        Span<byte> span = _scratch;
        int n = Hex16(span, insn.Ip);
        span[n++] = (byte)' ';
        span[n++] = (byte)' ';
        int symStart = n;
        n += Symbol(span[n..], insn.Ip);
        // Pad the symbol column so the disassembly lines up for short names.
        while (n - symStart < 32) span[n++] = (byte)' ';
        span[n++] = (byte)' ';
        n += Encoding.UTF8.GetBytes(_chars.Chars, span[n..]);
        span[n++] = (byte)'\n';
        return span[..n].ToArray();
    }

    /// <summary>"name+0xoff", or "[dso]+0xfileoffset" when the file has no symbol there, or "[unknown]".</summary>
    private int Symbol(Span<byte> dest, ulong ip)
    {
        if (Context.MappingAt(ip) is not { } m) return Text(dest, "[unknown]");
        int n;
        ulong off;
        if (symbols.TryFind(m, ip, out string name, out off))
            n = Text(dest, name.Length > 200 ? name[..200] : name);
        else
        {
            string file = Path.GetFileName(m.Path);
            n = Text(dest, file.Length > 200 ? file[..200] : file);
            off = ip - m.Start + m.PgOff;
        }
        dest[n++] = (byte)'+';
        dest[n++] = (byte)'0';
        dest[n++] = (byte)'x';
        return n + Hex(dest[n..], off);
    }

    public override void Event(in PtEvent ev, long fileOffset)
    {
        if (ev.StatusUpdate) return;
        Span<byte> span = Output.GetSpan(256);
        span[0] = (byte)'[';
        if (!PtEventText.TryFormat(ev, span[1..^2], out int n)) n = 0;
        span[1 + n] = (byte)']';
        span[2 + n] = (byte)'\n';
        Output.Advance(n + 3);
    }
}
