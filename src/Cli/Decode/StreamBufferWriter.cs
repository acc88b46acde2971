using System.Buffers;
using System.Text;

namespace DotnetPtrace.Cli.Decode;

/// <summary>
/// Buffered UTF-8 output as an <see cref="IBufferWriter{T}"/>, so decoder sinks format lines straight into the
/// buffer. A reader that closes the pipe (| head) ends the output quietly.
/// </summary>
public sealed class StreamBufferWriter(Stream stream) : IBufferWriter<byte>, IDisposable
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;
    private bool _broken;

    public void Advance(int count) => _used += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_used);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_used);
    }

    private void Reserve(int sizeHint)
    {
        if (sizeHint > _buffer.Length / 2) throw new ArgumentOutOfRangeException(nameof(sizeHint));
        if (_buffer.Length - _used < Math.Max(sizeHint, 512)) Flush();
    }

    public void Write(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > _buffer.Length - _used) Flush();
        if (bytes.Length > _buffer.Length)
        {
            WriteOut(bytes);
            return;
        }
        bytes.CopyTo(_buffer, _used);
        _used += bytes.Length;
    }

    /// <summary>Copies bytes formatted elsewhere (another stream's buffered output).</summary>
    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _buffer.Length - _used) Flush();
        if (bytes.Length > _buffer.Length)
        {
            WriteOut(bytes);
            return;
        }
        bytes.CopyTo(_buffer.AsSpan(_used));
        _used += bytes.Length;
    }

    public void Flush()
    {
        if (_used > 0) WriteOut(_buffer.AsSpan(0, _used));
        _used = 0;
    }

    private void WriteOut(ReadOnlySpan<byte> bytes)
    {
        if (_broken) return;
        try
        {
            stream.Write(bytes);
        }
        catch (IOException)
        {
            _broken = true; // reader closed the pipe: nothing more to say
        }
    }

    public void Dispose()
    {
        Flush();
        try { stream.Flush(); }
        catch (IOException) { }
    }
}
