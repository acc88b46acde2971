using System.Globalization;

namespace DotnetPtrace.Native.SoftPt;

/// <summary>What delivering a signal to a process will do, from /proc/TID/status (SigCgt, SigIgn) and the default actions.</summary>
internal enum SignalAction { Handler, Ignore, Stop, Terminate }

internal static class SignalDisposition
{
    private const int SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22, SIGURG = 23, SIGWINCH = 28;

    public static SignalAction Of(int tid, int signal)
    {
        ulong caught = 0, ignored = 0;
        try
        {
            foreach (string line in File.ReadLines($"/proc/{tid}/status"))
            {
                if (line.StartsWith("SigCgt:", StringComparison.Ordinal)) caught = ulong.Parse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                else if (line.StartsWith("SigIgn:", StringComparison.Ordinal)) ignored = ulong.Parse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return SignalAction.Terminate; }
        ulong bit = 1UL << (signal - 1);
        if ((caught & bit) != 0) return SignalAction.Handler;
        if ((ignored & bit) != 0) return SignalAction.Ignore;
        return signal switch
        {
            SIGCHLD or SIGCONT or SIGURG or SIGWINCH => SignalAction.Ignore,
            SIGSTOP or SIGTSTP or SIGTTIN or SIGTTOU => SignalAction.Stop,
            _ => SignalAction.Terminate,   // the rest, real-time signals included, end the process
        };
    }
}
