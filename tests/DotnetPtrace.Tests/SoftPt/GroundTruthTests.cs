using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using static DotnetPtrace.Tests.SoftPt.SoftPtTestSupport;

namespace DotnetPtrace.Tests.SoftPt;

[Collection("live recording")]
public class GroundTruthTests(ITestOutputHelper log)
{
    [Fact]
    public void The_export_lists_each_threads_instructions_under_its_pid_and_tid_and_reads_back()
    {
        string bin = SoftPtSamples.NoStdlib("loop");
        var (rec, _) = Trace(log, bin);
        var thread = Assert.Single(rec.Threads);
        var start = Disassembly(bin, "_start");

        var text = new StringWriter();
        GroundTruthWriter.Write(rec, text);
        var lines = text.ToString().Split('\n');
        Assert.Equal($"# pid {thread.Pid} tid {thread.Tid}", lines[0]);
        Assert.Equal(start[0].Address.ToString("x"), lines[1]);   // lowercase hex, no 0x
        Assert.Equal(start[1].Address.ToString("x"), lines[2]);
        Assert.Equal(2010 + 2, lines.Length);   // header, 2010 instructions (no marker lines), and the final newline

        string file = Path.GetTempFileName();
        try
        {
            GroundTruthWriter.Write(rec, file);
            var back = Assert.Single(GroundTruthReader.Read(file));
            Assert.Equal((thread.Pid, thread.Tid), (back.Pid, back.Tid));
            Assert.Equal(Instructions(thread), back.Addresses);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Several_threads_are_written_in_recording_order()
    {
        var rec = new ExecutionRecording();
        var a = new ThreadExecution { Pid = 10, Tid = 10, AddressSpaceId = 0 };
        a.Steps.Add(0x401000);
        a.Steps.Add(StepMarker.Make(StepMarker.Kind.Signal, 10));
        a.Steps.Add(0x7fffdeadbeef);
        var b = new ThreadExecution { Pid = 10, Tid = 11, AddressSpaceId = 0 };
        b.Steps.Add(0xABC);
        b.Steps.Add(StepMarker.Make(StepMarker.Kind.Exit, 0));
        rec.Threads.Add(a);
        rec.Threads.Add(b);
        var text = new StringWriter();
        GroundTruthWriter.Write(rec, text);
        Assert.Equal("# pid 10 tid 10\n401000\n7fffdeadbeef\n# pid 10 tid 11\nabc\n", text.ToString());
        var back = GroundTruthReader.Read(new StringReader(text.ToString()));
        Assert.Equal([(10, 10), (10, 11)], back.Select(t => (t.Pid, t.Tid)));
        Assert.Equal([0x401000UL, 0x7fffdeadbeefUL], back[0].Addresses);
    }

    [Theory]
    [InlineData("401000\n", "x.txt:1: an address before the first '# pid P tid T' line")]
    [InlineData("# pid 1 tid 1\n401000\nzz\n", "x.txt:3: 'zz' is not a hexadecimal address")]
    [InlineData("# pid 1 tid 1\n0x401000\n", "x.txt:2: '0x401000' is not a hexadecimal address")]
    [InlineData("# pid 1\n", "x.txt:1: expected '# pid P tid T', found '# pid 1'")]
    public void Bad_lines_are_reported_with_their_line_number(string input, string message)
    {
        var e = Assert.Throws<FormatException>(() => GroundTruthReader.Read(new StringReader(input), "x.txt"));
        Assert.Equal(message, e.Message);
    }
}
