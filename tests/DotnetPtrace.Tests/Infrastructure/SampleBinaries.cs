using System.Diagnostics;

namespace DotnetPtrace.Tests.Infrastructure;

/// <summary>
/// The C programs in samples/, compiled once per test run with gcc (-g, frame pointers, so perf can symbolise
/// them and walk their stacks). Real ELF files, real processes.
/// </summary>
public static class SampleBinaries
{
    private static readonly Lazy<string> Directory_ = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Path(string name) => System.IO.Path.Combine(Directory_.Value, name);

    public static string CpuBound => Path("cpu_bound");
    public static string Threads => Path("threads");
    public static string ForkExec => Path("fork_exec");
    public static string TouchPages => Path("touch_pages");
    public static string SyscallFlood => Path("syscall_flood");
    public static string VdsoClock => Path("vdso_clock");

    private static string Build()
    {
        string source = System.IO.Path.Combine(AppContext.BaseDirectory, "samples");
        string output = Directory.CreateTempSubdirectory("dotnet-ptrace-samples-").FullName;
        foreach (string c in Directory.GetFiles(source, "*.c"))
        {
            string name = System.IO.Path.GetFileNameWithoutExtension(c);
            var result = ProcessRunner.Run("gcc", ["-O0", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", System.IO.Path.Combine(output, name), c], TimeSpan.FromSeconds(60));
            if (result.ExitCode != 0)
                throw new InvalidOperationException($"gcc failed for {c} (install gcc; .ci/run does): {result.Stderr}");
        }
        return output;
    }
}

public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1}s\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs a program to completion with a hard timeout, so no test can hang.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string file, IEnumerable<string> args, TimeSpan timeout, Action<Process>? whileRunning = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        whileRunning?.Invoke(p);
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}: {stderr.Result}");
        }
        p.WaitForExit();
        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result, sw.Elapsed);
    }
}
