using System.Runtime.InteropServices;

namespace DotnetPtrace.Cli;

/// <summary>
/// We own SIGINT, SIGTERM and SIGQUIT instead of System.CommandLine, whose default kills the process 2 s after the
/// first signal: flushing a large trace can take longer, and a killed flush is a lost trace. The first signal asks
/// the running command to stop cleanly (the token); a second SIGINT aborts at once with 130.
/// </summary>
public sealed class TerminationSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _count;

    public CancellationToken Token => _cts.Token;

    /// <summary>The signal that asked us to stop, if any.</summary>
    public PosixSignal? Received { get; private set; }

    public TerminationSignals()
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
            _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;   // we decide when to exit
        Received ??= context.Signal;
        if (Interlocked.Increment(ref _count) > 1 && context.Signal == PosixSignal.SIGINT)
        {
            Console.Error.WriteLine("dotnet-ptrace: interrupted again, aborting; the output file may be incomplete");
            Environment.Exit(ReturnCode.Interrupted);
        }
        _cts.Cancel();
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }
}
