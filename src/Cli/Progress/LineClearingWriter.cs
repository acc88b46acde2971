using System.Text;

namespace DotnetPtrace.Cli.Progress;

/// <summary>
/// Stands in for stderr while a <see cref="ProgressLine"/> is shown: anything else written there (a warning, a log
/// line) first erases the progress line, so the text starts at the left margin; the next redraw puts the line back
/// below it.
/// </summary>
internal sealed class LineClearingWriter(ProgressLine line, TextWriter inner) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        line.Clear();
        inner.Write(value);
    }

    public override void Write(string? value)
    {
        line.Clear();
        inner.Write(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        line.Clear();
        inner.Write(buffer, index, count);
    }

    public override void Write(ReadOnlySpan<char> buffer)
    {
        line.Clear();
        inner.Write(buffer);
    }

    public override void WriteLine(string? value)
    {
        line.Clear();
        inner.WriteLine(value);
    }

    public override void Flush() => inner.Flush();
}
