using System.Text;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// Buffered UTF-8 text output for tools that print a line per record: lines are formatted straight into the
/// buffer (Utf8.TryWrite), so printing a record allocates nothing.
/// </summary>
public sealed class Utf8Output(Stream stream) : IDisposable
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    public static Utf8Output StandardOutput() => new(Console.OpenStandardOutput());

    /// <summary>Room for one formatted piece; pieces longer than this go through <see cref="Write(string)"/>.</summary>
    public Span<byte> GetSpan()
    {
        if (_buffer.Length - _used < 8192) Flush();
        return _buffer.AsSpan(_used);
    }

    public void Advance(int count) => _used += count;

    public void Write(string text)
    {
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max > _buffer.Length - _used) Flush();
        if (max > _buffer.Length) { stream.Write(Encoding.UTF8.GetBytes(text)); return; }
        _used += Encoding.UTF8.GetBytes(text, _buffer.AsSpan(_used));
    }

    public void Write(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > _buffer.Length - _used) Flush();
        if (utf8.Length > _buffer.Length) { stream.Write(utf8); return; }
        utf8.CopyTo(_buffer.AsSpan(_used));
        _used += utf8.Length;
    }

    public void Flush()
    {
        if (_used > 0) stream.Write(_buffer, 0, _used);
        _used = 0;
    }

    public void Dispose()
    {
        try { Flush(); stream.Flush(); }
        catch (IOException) { }  // reader closed the pipe (| head): nothing more to say
    }
}
