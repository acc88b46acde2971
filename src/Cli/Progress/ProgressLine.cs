namespace DotnetPtrace.Cli.Progress;

/// <summary>
/// One rewritten status line on stderr while long work runs (cli-conventions.md §5): redrawn once a second by a timer
/// with <c>ESC[2K</c>, the cursor hidden meanwhile and shown again, and the line erased, on <see cref="Dispose"/>. Only
/// when stderr is a terminal and not -q: never into logs, pipes or test output. The work itself only stores a number
/// (<see cref="Update"/>, any thread, no lock, no allocation), so a hot loop can report every item.
/// </summary>
public sealed class ProgressLine : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private const string Erase = "\r\x1b[2K";
    private const string HideCursor = "\x1b[?25l";
    private const string ShowCursor = "\x1b[?25h";

    private readonly TextWriter? _terminal;
    private readonly TimeProvider _clock;
    private readonly long _start;
    private readonly ITimer? _timer;
    private readonly TextWriter? _replacedStderr;
    private readonly Lock _lock = new();
    private long _done;
    private bool _shown;
    private bool _cursorHidden;
    private bool _disposed;

    /// <summary>
    /// A line on stderr, if it is a terminal and <paramref name="quiet"/> is off; else a line that shows nothing. Commands
    /// that stream their output pass quiet when stdout is the terminal too: the two would overwrite each other.
    /// </summary>
    public ProgressLine(string activity, long total, bool quiet = false)
        : this(activity, total, IsTerminal(quiet) ? Console.Error : null, TimeProvider.System, startTimer: true)
    {
    }

    /// <summary>
    /// The line drawn on <paramref name="terminal"/> (null: nothing is drawn) with <paramref name="clock"/>; without the
    /// timer, <see cref="Render"/> draws it (tests).
    /// </summary>
    public ProgressLine(string activity, long total, TextWriter? terminal, TimeProvider clock, bool startTimer)
    {
        Activity = activity;
        Total = total;
        _terminal = terminal;
        _clock = clock;
        _start = clock.GetTimestamp();
        if (terminal is null) return;
        if (ReferenceEquals(terminal, Console.Error))
        {
            // Warnings written to stderr meanwhile erase the line first rather than land after its text.
            _replacedStderr = Console.Error;
            Console.SetError(new LineClearingWriter(this, _replacedStderr));
        }
        if (startTimer) _timer = clock.CreateTimer(_ => Render(), null, Period, Period);
    }

    /// <summary>Whether a progress line would show: stderr is a terminal (not redirected, not TERM=dumb) and not -q.</summary>
    public static bool IsTerminal(bool quiet) =>
        !quiet && !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    public bool Enabled => _terminal is not null;

    /// <summary>What is being done ("decoding"): the line's first word; may change as the work moves on.</summary>
    public string Activity { get; set; }

    /// <summary>The size the work will reach (0: unknown).</summary>
    public long Total { get; set; }

    /// <summary>Read at each redraw: what follows the numbers (lost counts, the Ctrl-C hint); null: nothing.</summary>
    public Func<string?>? Detail { get; set; }

    /// <summary>Read at each redraw instead of the value given to <see cref="Update"/>, when the work keeps its own count.</summary>
    public Func<long>? Source { get; set; }

    /// <summary>How far the work is, in bytes. Cheap enough for every record or packet.</summary>
    public void Update(long done) => Volatile.Write(ref _done, done);

    /// <summary>Adds to how far the work is: for workers on several threads that each finish a part.</summary>
    public void Add(long bytes) => Interlocked.Add(ref _done, bytes);

    /// <summary>Draws the line now (the timer calls this once a second).</summary>
    public void Render()
    {
        if (_terminal is null) return;
        long done = Source?.Invoke() ?? Volatile.Read(ref _done);
        string text = ProgressText.Format(_clock.GetElapsedTime(_start), Activity, done, Total, Detail?.Invoke());
        lock (_lock)
        {
            if (_disposed) return;
            if (!_cursorHidden) Write(HideCursor);
            _cursorHidden = true;
            Write(Erase + text);
            _shown = true;
        }
    }

    /// <summary>Erases the line if it is shown (before other text goes to the terminal).</summary>
    internal void Clear()
    {
        lock (_lock)
        {
            if (!_shown) return;
            Write(Erase);
            _shown = false;
        }
    }

    public void Dispose()
    {
        if (_terminal is null || _disposed) return;
        _timer?.Dispose();
        lock (_lock)
        {
            if (_shown) Write(Erase);
            if (_cursorHidden) Write(ShowCursor);
            _shown = false;
            _disposed = true;
            _terminal.Flush();
        }
        if (_replacedStderr is not null) Console.SetError(_replacedStderr);
    }

    private void Write(string text)
    {
        // The original writer: Console.Error is our clearing wrapper while the line is up.
        (_replacedStderr ?? _terminal)!.Write(text);
        (_replacedStderr ?? _terminal)!.Flush();
    }
}
