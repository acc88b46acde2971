using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HotLoop;

/// <summary>
/// Calls one small hot method, <see cref="SumPrimes"/>, over and over for a while: the JIT-compiled code a tracer
/// should find by name. Usage: HotLoop [SECONDS [N]] (default 5 s, primes below 300; SECONDS 0 runs until killed).
/// Prints "ready PID" once SumPrimes has been compiled and run, then "done CALLS TOTAL" at the end.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
        int n = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 300;
        long total = SumPrimes(n);
        Console.WriteLine($"ready {Environment.ProcessId}");
        Console.Out.Flush();
        var clock = Stopwatch.StartNew();
        long calls = 1;
        // The clock is read every 64 calls: the loop is SumPrimes, not Stopwatch.
        while (seconds <= 0 || clock.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 64; i++) total += SumPrimes(n);
            calls += 64;
        }
        Console.WriteLine($"done {calls} {total}");
        return 0;
    }

    /// <summary>The sum of the primes below <paramref name="n"/>, by trial division: a few thousand instructions, no calls.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long SumPrimes(int n)
    {
        long sum = 0;
        for (int candidate = 2; candidate < n; candidate++)
        {
            bool prime = true;
            for (int d = 2; d * d <= candidate; d++)
            {
                if (candidate % d == 0) { prime = false; break; }
            }
            if (prime) sum += candidate;
        }
        return sum;
    }
}
