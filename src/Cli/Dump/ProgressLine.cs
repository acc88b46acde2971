using System.Diagnostics;

namespace DotnetPtrace.Cli.Dump;

/// <summary>
/// "[ 120 MB of 800 MB read ]" on stderr while a long read runs: only when stderr is a terminal (never into logs
/// or pipes), at most once a second, and erased at the end. Costs one comparison per call between updates.
/// </summary>
public sealed class ProgressLine(long totalBytes) : IDisposable
{
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _nextTick = Stopwatch.Frequency;
    private bool _shown;

    public void Update(long position)
    {
        if (!_enabled || _clock.ElapsedTicks < _nextTick) return;
        _nextTick = _clock.ElapsedTicks + Stopwatch.Frequency;
        string of = totalBytes > 0 ? $" of {totalBytes >> 20} MB" : "";
        Console.Error.Write($"\r[ {position >> 20} MB{of} read ]   ");
        _shown = true;
    }

    public void Dispose()
    {
        if (_shown) Console.Error.Write("\r\x1b[K");
    }
}
