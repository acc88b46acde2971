using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Native;
using DotnetPtrace.Native.SoftPt;
using Microsoft.Extensions.Logging;

namespace DotnetPtrace.Cli.Record;

/// <summary>
/// `record --soft-pt`: software Intel PT for machines without it. The command is single-stepped under ptrace (every
/// user-mode instruction of every thread), the execution is encoded as the packets Intel PT hardware would emit
/// with the intel_pt terms given (`-e intel_pt/noretcomp,psb_period=0/`), and written as a perf.data that perf's
/// and our PT decoders read. Slow (a few hundred thousand instructions a second) and exact; the file and the
/// summary say it is an emulation.
/// With -p the running processes are seized where they are (the -D attach machinery without the launch), traced until
/// --duration, Ctrl-C/SIGTERM or their end, then detached: they carry on untraced, and the exit status is ours (0).
/// </summary>
public sealed class SoftPtRecordRunner(RecordOptions options)
{
    public async Task<int> RunAsync(CancellationToken cancellation)
    {
        using var loggers = Logging.Create(options.Verbosity, options.Quiet);
        var log = loggers.CreateLogger("record");
        try
        {
            return await Task.Run(() => Run(log, cancellation), CancellationToken.None);
        }
        catch (UsageException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (CommandNotFoundException e) { return Fail(e.Message, e.ExitCode); }
        catch (PerfException e) { return Fail(e.Message, ReturnCode.SessionError); }
        catch (Native.Dotnet.DotnetIpcException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Fail(e.Message, ReturnCode.RecordingError); }
        catch (Exception e)
        {
            log.LogDebug(e, "unexpected failure");
            return Fail($"internal error: {e.GetType().Name}: {e.Message}", ReturnCode.RecordingError);
        }
    }

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"dotnet-ptrace record: {message}");
        return code;
    }

    private int Run(ILogger log, CancellationToken cancellation)
    {
        bool attaching = options.Pids.Count > 0;
        if (options.Command.Count == 0 && !attaching) throw new UsageException("--soft-pt traces a command it launches (after --) or running processes (-p PID)");
        if (attaching) CheckAttachable(options.Pids);
        SoftPtOptions pt = SoftPtTerms.Parse(options.Events);
        bool toStdout = StreamOutput.IsRequested(options.Output);
        if (toStdout) StreamOutput.CheckNotTerminal();
        else RecordRunner.CheckOutputWritable(options.Output);
        var clock = Stopwatch.StartNew();
        if (options.DotnetJit && options.Delay is null && !options.Quiet)
            Console.Error.WriteLine("dotnet-ptrace record: warning: --soft-pt --dotnet-jit without -D steps .NET's start-up too (some 10^8 instructions, about an hour at ~40,000 steps/s); -D MSECS starts tracing after it");
        var tracerOptions = new SoftPtTracerOptions
        {
            Environment = options.DotnetJit ? Native.Dotnet.DotnetJitSettings.LaunchEnvironment : null,
            StartDelay = options.Delay,
            Duration = options.Duration,
            // With -o - stdout carries the stream: the command writes its own output to stderr, as under perf.
            StandardOutputToStandardError = toStdout,
        };
        ExecutionRecording recording = attaching
            ? SoftPtTracer.Attach(options.Pids, AttachOptions(), cancellation)
            : SoftPtTracer.Run(options.Command, tracerOptions, cancellation);
        log.LogInformation("traced {Steps} steps in {Seconds:F2} s", recording.TotalSteps, recording.ElapsedSeconds);

        // Encode each thread; the encoder classifies each distinct instruction once and reuses its buffers.
        var encoder = new SoftPtEncoder(pt);
        var traces = new List<ReadOnlyMemory<byte>>(recording.Threads.Count);
        long instructions = 0;
        foreach (ThreadExecution thread in recording.Threads)
        {
            var buffer = new ArrayBufferWriter<byte>(Math.Max(4096, thread.Steps.Count / 2));
            SoftPtStatistics stats = encoder.Encode(recording, thread, buffer);
            traces.Add(buffer.WrittenMemory);
            instructions += stats.Instructions;
        }
        if (options.GroundTruth is { } truth) GroundTruthWriter.Write(recording, truth);

        FileStream file;
        if (toStdout) file = StreamOutput.OpenStandardOutput();
        else
        {
            RecordRunner.BackupExisting(options.Output);
            try { file = PerfDataWriter.CreateFile(options.Output); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"cannot create {options.Output}: {e.Message}"); }
        }
        var host = HostInfo.Collect();
        SoftPtFileSummary summary;
        using (file)
        {
            summary = SoftPtFile.Write(file, toStdout, recording, traces, new SoftPtFileSettings
            {
                IntelPtConfig = pt.Config,
                AuxtraceInfo = pt.ApplyTo(new IntelPtAuxtraceInfo()),
                TscOf = pt.TscOf,
                Cmdline = [.. options.OwnCommandLine],
                Hostname = host.Hostname,
                OsRelease = host.OsRelease,
                BuildIds = SoftPtFile.BuildIdsOf(recording, Decoders.Elf.ElfBuildId.TryRead),
            });
        }
        if (summary.ReaderWentAway)
        {
            Console.Error.WriteLine($"dotnet-ptrace record: the reader of the stream went away (broken pipe) after {summary.FileBytes} bytes");
            return recording.ExitCode;
        }
        if (!options.Quiet)
        {
            double seconds = Math.Max(recording.ElapsedSeconds, 1e-9);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[ dotnet-ptrace record: software Intel PT (ptrace single-step emulation, not hardware): {instructions:N0} instructions in {recording.Threads.Count} threads, {recording.TotalSteps / seconds:N0} steps/s ]"));
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[ dotnet-ptrace record: Captured and wrote {summary.FileBytes / (1024.0 * 1024.0):F3} MB {options.Output} ({summary.TraceBytes / (1024.0 * 1024.0):F3} MB PT, {summary.SidebandRecords} sideband records; {clock.Elapsed.TotalSeconds:F1} s) ]"));
        }
        if (options.Delay is { } delay && recording.Threads.Count == 0)
            Console.Error.WriteLine($"dotnet-ptrace record: warning: the command ended within the -D delay ({delay.TotalMilliseconds:F0} ms): nothing was traced");
        if (attaching)
        {
            if (!options.Quiet)
                foreach (int pid in options.Pids)
                    Console.Error.WriteLine(ThreadStatus.Read(pid) switch
                    {
                        null => $"[ dotnet-ptrace record: pid {pid} ended while traced ]",
                        _ when ThreadStatus.IsZombieProcess(pid) => $"[ dotnet-ptrace record: pid {pid} ended while traced ]",
                        { State: 'T' } => $"[ dotnet-ptrace record: detached from pid {pid}: it is stopped (job control), as it was asked to be ]",
                        _ => $"[ dotnet-ptrace record: detached from pid {pid}: it carries on untraced ]",
                    });
            return ReturnCode.Ok;
        }
        if (recording.Truncated)
            Console.Error.WriteLine("dotnet-ptrace record: warning: the trace was stopped before the command ended (interrupted); the file holds everything up to there");
        return recording.ExitCode;
    }

    /// <summary>-p: the tracer options of an attached trace, whose status line comes once every thread is seized.</summary>
    private SoftPtTracerOptions AttachOptions()
    {
        if (options.DotnetJit)
            foreach (int pid in options.Pids)
            {
                Native.Dotnet.DiagnosticsIpc.EnablePerfMap(pid);
                if (!options.Quiet) Console.Error.WriteLine($"[ dotnet-ptrace record: pid {pid}: .NET writes /tmp/perf-{pid}.map and /tmp/jit-{pid}.dump from now on ]");
            }
        return new SoftPtTracerOptions
        {
            Duration = options.Duration,
            Attached = counts =>
            {
                if (options.Quiet) return;
                int threads = counts.Sum(c => c.Threads);
                Console.Error.WriteLine($"[ dotnet-ptrace record: attached to {PidList(counts.Select(c => c.Pid).ToList())} ({threads} thread{(threads == 1 ? "" : "s")}): software Intel PT, Ctrl-C to stop ]");
            },
        };
    }

    /// <summary>The mistakes worth one line before any ptrace call: no such process, a zombie, a thread id given as a pid.</summary>
    private static void CheckAttachable(IReadOnlyList<int> pids)
    {
        foreach (int pid in pids)
        {
            if (pid == Environment.ProcessId) throw new UsageException($"-p {pid}: that is dotnet-ptrace itself");
            if (ThreadStatus.Read(pid) is not { } status || ProcFs.Threads(pid).Count == 0) throw new UsageException($"-p {pid}: no such process");
            if (status.State is 'Z' or 'X' && ThreadStatus.IsZombieProcess(pid)) throw new UsageException($"-p {pid}: the process has exited (a zombie its parent has not reaped): nothing runs to trace");
            int tgid = ProcFs.ProcessOf(pid);
            if (tgid != pid) throw new UsageException($"-p {pid}: that is a thread of process {tgid}: give -p {tgid}");
        }
    }

    private static string PidList(IReadOnlyList<int> pids) => (pids.Count == 1 ? "pid " : "pids ") + string.Join(", ", pids);
}

/// <summary>The intel_pt terms of `-e intel_pt/.../` as software-PT options (perf's spelling: a bare term means 1).</summary>
public static class SoftPtTerms
{
    public static SoftPtOptions Parse(IReadOnlyList<string> events)
    {
        var o = new SoftPtOptions();
        foreach (string e in events)
        {
            string text = e.Trim();
            if (!text.StartsWith("intel_pt/", StringComparison.Ordinal))
                throw new UsageException($"-e {e}: with --soft-pt the only event is intel_pt/TERMS/ (the software emulation of it)");
            int end = text.LastIndexOf('/');
            string terms = end > 8 ? text[9..end] : "";
            string modifiers = end >= 0 ? text[(end + 1)..] : "";
            if (modifiers.Length > 0 && modifiers != "u")
                throw new UsageException($"-e {e}: software PT traces user mode only (':{modifiers}' asks for more)");
            foreach (string term in terms.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string[] kv = term.Split('=', 2);
                string name = kv[0];
                long value = 1;
                if (kv.Length == 2 && !TryNumber(kv[1], out value))
                    throw new UsageException($"-e {e}: '{term}': expected a number after '='");
                bool on = value != 0;
                o = name switch
                {
                    "pt" => o,
                    "tsc" => o with { Tsc = on },
                    "mtc" => o with { Mtc = on },
                    "cyc" => o with { Cyc = on },
                    "noretcomp" => o with { RetCompression = !on },
                    "branch" => o with { Branch = on },
                    "mtc_period" => o with { MtcPeriod = (int)value },
                    "psb_period" => o with { PsbPeriod = (int)value },
                    "cyc_thresh" or "pwr_evt" or "ptw" or "fup_on_ptw" => throw new UsageException($"-e {e}: '{name}' is not emulated by --soft-pt (it has nothing to record without hardware)"),
                    _ => throw new UsageException($"-e {e}: unknown intel_pt term '{name}' (pt, tsc, mtc, mtc_period, cyc, noretcomp, branch, psb_period)"),
                };
            }
        }
        if (o.Validate() is { } error) throw new UsageException($"--soft-pt: {error}");
        return o;
    }

    private static bool TryNumber(string text, out long value) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(text[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
            : long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
}
