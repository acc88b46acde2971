using System.Buffers;
using System.Text.Unicode;
using DotnetPtrace.Decoders.IntelPt.Flow;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// One hex address per executed instruction, like a --soft-pt ground truth file ("# pid P tid T" before each thread
/// when the output holds more than one), so outputs compare line by line with other tools. Errors appear as
/// <c>[offset, ip: error: message]</c> lines; events do not.
/// </summary>
internal sealed class AddressesFormatter(IBufferWriter<byte> output, bool threadHeaders) : FlowFormatter(output)
{
    private int _headerTid = int.MinValue;

    public override void Begin(Decoders.IntelPt.Sideband.StreamContext context)
    {
        base.Begin(context);
        _headerTid = int.MinValue;
        if (!context.Key.PerCpu) Header();
    }

    private void Header()
    {
        if (!threadHeaders || Context.Tid == _headerTid) return;
        _headerTid = Context.Tid;
        Span<byte> span = Output.GetSpan(64);
        Utf8.TryWrite(span, $"# pid {Context.Pid} tid {Context.Tid}\n", out int n);
        Output.Advance(n);
    }

    public override void Block(in PtBlock block)
    {
        if (Context.Key.PerCpu) Header();
        ReadOnlySpan<byte> lengths = block.InstructionLengths;
        ulong ip = block.Ip;
        int done = 0;
        while (done < lengths.Length)
        {
            int lines = Math.Min(lengths.Length - done, 256);
            Span<byte> span = Output.GetSpan(17 * lines);
            int n = 0;
            for (int i = 0; i < lines; i++)
            {
                n += Hex(span[n..], ip);
                span[n++] = (byte)'\n';
                ip += lengths[done + i];
            }
            Output.Advance(n);
            done += lines;
        }
    }
}
