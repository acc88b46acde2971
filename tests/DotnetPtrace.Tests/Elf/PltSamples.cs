using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Elf;

/// <summary>
/// One small C program that calls libc through its PLT in a tight loop, linked the ways gcc 12 / binutils link on
/// Debian: PIE and non-PIE, lazy and -z now (a .plt either way), and with IBT (-fcf-protection -z ibtplt: calls go
/// through .plt.sec). Built once per test run.
/// </summary>
public static class PltSamples
{
    public static readonly (string Name, string[] Flags)[] Variants =
    [
        ("pie", ["-pie"]),
        ("nopie", ["-no-pie"]),
        ("pie-now", ["-pie", "-Wl,-z,now"]),
        ("nopie-now", ["-no-pie", "-Wl,-z,now"]),
        ("pie-ibt", ["-pie", "-fcf-protection", "-Wl,-z,ibtplt"]),
        ("nopie-ibt-now", ["-no-pie", "-fcf-protection", "-Wl,-z,ibtplt", "-Wl,-z,now"]),
    ];

    /// <summary>Cheap libc calls, so a good share of the time is spent in their PLT stubs; argv[1] loop counts.</summary>
    private const string Source = """
        #include <stdlib.h>
        #include <string.h>
        #include <strings.h>
        int main(int argc, char **argv)
        {
            long n = argc > 1 ? atol(argv[1]) : 1000, s = 0;
            for (long i = 0; i < n; i++) {
                s += labs(-i);
                s += ffs((int)i);
                s += strlen(argv[0]);
            }
            volatile long sink = s;   /* keeps the loop; exit 0 (perf record returns the child's status) */
            (void)sink;
            return 0;
        }
        """;

    private static readonly Lazy<string> Directory_ = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Path(string variant) => System.IO.Path.Combine(Directory_.Value, variant);

    private static string Build()
    {
        string dir = Directory.CreateTempSubdirectory("dotnet-ptrace-plt-").FullName;
        string source = System.IO.Path.Combine(dir, "plt_calls.c");
        File.WriteAllText(source, Source);
        foreach (var (name, flags) in Variants)
        {
            // -fno-builtin keeps labs/ffs/strlen real calls; -O1 keeps the loop tight.
            var r = ProcessRunner.Run("gcc", ["-O1", "-fno-builtin", .. flags, "-o", System.IO.Path.Combine(dir, name), source], TimeSpan.FromSeconds(60));
            if (r.ExitCode != 0)
                throw new InvalidOperationException($"gcc failed for {name}: {r.Stderr}");
        }
        return dir;
    }
}
