using System.Globalization;
using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.Elf;
using DotnetPtrace.Decoders.PerfData;
using DotnetPtrace.Native;
using DotnetPtrace.Native.Events;
using DotnetPtrace.Native.Events.AddressFilters;
using Microsoft.Extensions.Logging;

namespace DotnetPtrace.Cli.Record;

/// <summary>
/// Runs one `record`: resolve events, CPUs and the target; open everything; create the file; synthesize what was
/// already running; start; poll and drain until the target exits, a signal, --duration, or a write error; then
/// disable, drain the last bytes, finish the file on every way out, and print perf's one-line summary.
/// </summary>
public sealed class RecordRunner(RecordOptions options)
{
    /// <summary>`trace`: one more observer of every record written (it takes the attrs), fed on the writer's thread.</summary>
    public Func<IReadOnlyList<EventAttrEntry>, IRecordObserver>? LiveObserver { get; init; }

    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ChildGrace = TimeSpan.FromSeconds(3);
    private byte[]? _tracingData;

    public async Task<int> RunAsync(CancellationToken cancellation)
    {
        using var loggers = Logging.Create(options.Verbosity, options.Quiet);
        var log = loggers.CreateLogger("record");
        try
        {
            return await RunCoreAsync(log, cancellation);
        }
        catch (UsageException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (EventParseException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (CpuListException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (CommandNotFoundException e) { return Fail(e.Message, e.ExitCode); }
        catch (PerfException e) { return Fail(e.Message, ReturnCode.SessionError); }
        catch (Native.Dotnet.DotnetIpcException e) { return Fail(e.Message, ReturnCode.UsageError); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(e.Message, ReturnCode.RecordingError);
        }
        catch (Exception e)
        {
            // Never a crash trace for the user; the stack goes to the log for us (-vv).
            log.LogDebug(e, "unexpected failure");
            return Fail($"internal error: {e.GetType().Name}: {e.Message}", ReturnCode.RecordingError);
        }
    }

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"dotnet-ptrace record: {message}");
        return code;
    }

    private async Task<int> RunCoreAsync(ILogger log, CancellationToken cancellation)
    {
        bool toStdout = StreamOutput.IsRequested(options.Output);
        if (toStdout) StreamOutput.CheckNotTerminal();
        var pmus = new PmuCatalog();
        var tracefs = new Tracefs();
        var parser = new EventParser(pmus, tracefs);
        var specs = options.Events.Count > 0 ? options.Events.Select(parser.Parse).ToList() : [DefaultEvent(parser, pmus, log)];
        // Read now, not at the end: a recording must not fail after the fact because tracefs went away.
        _tracingData = TracingDataCollector.Collect(tracefs, specs);
        var cpus = ResolveCpus();
        bool launching = options.Command.Count > 0;
        bool excludeKernel = specs.All(s => s.Attr.Has(AttrFlags.ExcludeKernel));
        // An AUX event (Intel PT) must come first: it owns each ring and its AUX area.
        var auxSpecs = specs.Where(s => s.PmuName == IntelPtDefaultConfig.PmuName).ToList();
        var aux = PlanAux(auxSpecs, pmus, log);
        if (auxSpecs.Count == 0 && options.AuxPages is not null) log.LogWarning("-m ,AUX ignored: no intel_pt event");
        specs = [.. auxSpecs, .. specs.Except(auxSpecs)];
        long auxBytes = (long)aux.AuxPages * Environment.SystemPageSize;
        var configs = specs.Select((s, i) => aux.AuxPages > 0 && i == 0
            ? AttrFactory.AuxTrace(s, options, launching, options.DataPages, auxBytes)
            : AttrFactory.Sampling(s, options, launching, options.DataPages)).ToList();
        configs.Add(AttrFactory.Sideband(options, launching, excludeKernel, options.DataPages));
        if (options.DotnetJit && aux.AuxPages == 0) configs = [.. configs.Select(MonotonicClock)];
        if (!toStdout) CheckOutputWritable(options.Output);

        ExecGate? gate = null;
        RecordingSession? session = null;
        try
        {
            RecordTarget target;
            if (launching)
            {
                gate = ExecGate.Start(options.Command, options.DotnetJit ? Native.Dotnet.DotnetJitSettings.LaunchEnvironment : null, stdoutToStderr: toStdout);
                target = new RecordTarget.Command(gate.Pid);
            }
            else
            {
                target = ResolveAttachTarget();
                // The runtime writes out the methods compiled so far, then each new one; decode and report read the files.
                if (options.DotnetJit)
                    foreach (int pid in options.Pids)
                    {
                        Native.Dotnet.DiagnosticsIpc.EnablePerfMap(pid);
                        if (!options.Quiet) Console.Error.WriteLine($"[ dotnet-ptrace record: pid {pid}: .NET writes /tmp/perf-{pid}.map and /tmp/jit-{pid}.dump from now on ]");
                    }
            }

            session = RecordingSession.Open(configs, target, cpus, options.DataPages, () => pmus.Names, aux.AuxPages, options.Snapshot, options.PerThread);
            log.LogInformation("opened {Fds} events on {Cpus} CPUs with {Rings} rings of {Pages} pages", session.Opened.Count, cpus.Count, session.Rings.Count, options.DataPages);
            if (aux.Filter.Length > 0) ApplyAddressFilter(session, aux.Filter);
            return await RecordAsync(session, gate, target, pmus, aux, log, cancellation);
        }
        catch
        {
            gate?.Kill();   // never leave a command waiting at the gate
            throw;
        }
        finally
        {
            session?.Dispose();
            gate?.Dispose();
        }
    }

    private async Task<int> RecordAsync(RecordingSession session, ExecGate? gate, RecordTarget target, PmuCatalog pmus, AuxSettings aux, ILogger log, CancellationToken cancellation)
    {
        var attrs = session.Events.Select((e, i) => new EventAttrEntry(e.Attr, session.IdsOf(i), e.Name)).ToList();
        var statistics = new RecordStatistics();
        var buildIds = new BuildIdCollector(attrs);
        FileStream file;
        PerfDataWriter writer;
        if (StreamOutput.IsRequested(options.Output))
        {
            // Pipe mode: the header facts go first, since nothing can be written back; build-ids follow at the end.
            file = StreamOutput.OpenStandardOutput();
            writer = PerfDataWriter.CreatePipe(file, attrs, Features(buildIds));
        }
        else
        {
            BackupExisting(options.Output);
            try { file = PerfDataWriter.CreateFile(options.Output); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"cannot create {options.Output}: {e.Message}");
            }
            writer = new PerfDataWriter(file, attrs);
        }
        var background = new BackgroundPerfDataWriter(writer, LiveObserver is { } live ? [statistics, buildIds, live(attrs)] : [statistics, buildIds]);
        StopReason stop;
        int? childStatus = null;
        string? snapshotSummary = null;
        try
        {
            if (session.AuxRings.Count > 0) WriteAuxtraceInfo(session, target, pmus, aux, background);
            SynthesizeExisting(session, target, background, kernel: session.Events.Any(e => !e.Attr.Has(AttrFlags.ExcludeKernel)));
            if (gate is not null) gate.Release();
            else session.EnableAll();
            if (!options.Quiet && target is not RecordTarget.Command)
                Console.Error.WriteLine("[ dotnet-ptrace record: recording; press Ctrl-C to stop ]");

            var sink = new WriterRingSink(background, session.Rings.Sum(r => (long)r.Size));
            // perf stamps each AUXTRACE with rdtsc at copy time; its decoder starts timed decoding from it.
            var timeConversion = session.Rings[0].ReadTimeConversion();
            var auxSinks = session.AuxRings.Select((ring, i) =>
            {
                ring.SnapshotLimit = aux.SnapshotSize > 0 ? aux.SnapshotSize : ring.Size;
                // Snapshots stitched at PSBs, as perf's decoder expects; it matches them by TSC, so only with tsc on.
                if (aux.StitchAtPsb) ring.SyncPattern = IntelPtPsb.Bytes;
                return new AuxtraceSink(background, idx: i, cpu: session.RingOwners[i].Cpu, tid: AuxtraceTid(session, i))
                {
                    Reference = () => timeConversion.TscAt(Native.Clock.MonotonicNanoseconds()),
                };
            }).ToArray();
            // perf -S: SIGUSR2 asks for a snapshot; the eventfd wakes the poll loop at once.
            using var trigger = options.Snapshot && session.AuxRings.Count > 0 ? new SnapshotTrigger() : null;
            using var signal = trigger?.RequestOn(Native.Signals.SIGUSR2);
            if (trigger is not null && !options.Quiet)
                Console.Error.WriteLine($"[ dotnet-ptrace record: snapshot mode; kill -USR2 {Environment.ProcessId} for a snapshot, one more is taken at the end ]");
            var poller = new RingPoller(session, sink, FlushInterval)
            {
                RoundCompleted = sink.CompleteRound,
                AuxConsumers = auxSinks.Length > 0 ? i => auxSinks[i] : null,
                Snapshots = trigger,
            };
            DateTime? deadline = options.Duration is { } d ? DateTime.UtcNow + d : null;
            // Not while a launched command may be writing to the same terminal: the two lines would garble each other.
            using var progress = new ProgressLine("recording", 0, quiet: options.Quiet || target is RecordTarget.Command)
            {
                Source = () => writer.DataSize,
                Detail = () => $"{statistics.LostEvents} lost{(session.AuxRings.Count > 0 ? $", {ProgressText.Size(poller.AuxBytesDrained)} AUX" : "")} (Ctrl-C to stop)",
            };
            // The poll loop runs on its own thread; it stops for the target's exit, a signal, the deadline, or a
            // write error (a full disk: keep what was written rather than keep tracing into nothing).
            stop = await Task.Factory.StartNew(
                () => poller.Run(() => (gate?.HasExited ?? false) || writer.WriteError is not null, deadline, cancellation),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            progress.Dispose();
            log.LogInformation("stopped: {Reason}; {Bytes} bytes drained in {Wakeups} wakeups", stop, poller.BytesDrained, poller.Wakeups);
            snapshotSummary = trigger is null ? null : SnapshotSummary(poller);
            if (gate is not null) childStatus = await StopChildAsync(gate, log);
        }
        finally
        {
            // Every way out finishes the file: normal end, signal, target killed, write error, exception.
            // The writer thread must have seen every record before the build-ids are collected (Features).
            background.WaitForWriter();
            background.Finish(Features(buildIds));
            file.Dispose();
        }

        if (writer.ReaderWentAway)
        {
            // `| head`: the reader had what it wanted. Not a failure of ours; the command's status stands, as when
            // the recording is stopped any other way.
            Console.Error.WriteLine($"dotnet-ptrace record: the reader of the stream went away (broken pipe) after {writer.TotalBytes} bytes; recording stopped");
            return childStatus ?? ReturnCode.Ok;
        }
        PrintSummary(writer, statistics);
        if (snapshotSummary is not null && !options.Quiet) Console.Error.WriteLine(snapshotSummary);
        if (writer.WriteError is { } error)
        {
            Console.Error.WriteLine($"dotnet-ptrace record: writing {options.Output} failed after {writer.DataSize} bytes of data: {error.Message}; the file keeps everything written before ({writer.DroppedBytes} bytes dropped)");
            return ReturnCode.RecordingError;
        }
        return childStatus ?? ReturnCode.Ok;
    }

    /// <summary>
    /// What a PT decoder needs before the first AUXTRACE: TIME_CONV (when the kernel offers TSC conversion) and
    /// Intel PT's AUXTRACE_INFO. Context switches come from our sideband event: SWITCH_CPU_WIDE system-wide, SWITCH
    /// for a traced task (perf's have_sched_switch 3 and 2).
    /// </summary>
    private static void WriteAuxtraceInfo(RecordingSession session, RecordTarget target, PmuCatalog pmus, AuxSettings aux, BackgroundPerfDataWriter background)
    {
        var time = session.Rings[0].ReadTimeConversion();
        if (time.CapUserTimeZero)
            background.Post(RecordBuilder.TimeConv(time.TimeShift, time.TimeMult, time.TimeZero, time.TimeCycles, time.TimeMask,
                time.CapUserTimeZero, time.CapUserTimeShort), default);
        var pmu = pmus.Find(IntelPtDefaultConfig.PmuName) ?? throw new PerfException("the intel_pt PMU disappeared");
        // perf: per-thread recordings have no switch events to sync with (0); per-CPU ones have ours.
        var info = IntelPtInfoFactory.Create(pmu, time, snapshot: aux.Snapshot, perCpuMmaps: !session.PerThread,
            haveSchedSwitch: session.PerThread ? 0UL : target is RecordTarget.SystemWide ? 3UL : 2UL, filter: aux.Filter);
        background.Post(info.ToRecord(), default);
    }

    /// <summary>
    /// --dotnet-jit: sample times in CLOCK_MONOTONIC (perf record -k mono), the clock .NET stamps its jitdump records
    /// with, so a sample and the code load it ran are on one time line; it is also what `perf inject -j` requires
    /// before it turns a jitdump into symbol files. Not for Intel PT: its TSC converts to perf's own clock.
    /// </summary>
    private static EventConfig MonotonicClock(EventConfig c)
    {
        var attr = c.Attr;
        attr.Flags |= AttrFlags.UseClockId;
        attr.ClockId = 1;   // CLOCK_MONOTONIC
        return c with { Attr = attr };
    }

    /// <summary>The AUX side of a recording: sizes, snapshot mode and the address filter (empty: none).</summary>
    private sealed record AuxSettings(int AuxPages, bool Snapshot, ulong SnapshotSize, string Filter, bool StitchAtPsb = false);

    /// <summary>
    /// Checks the AUX options against the events and the PMU before anything is opened: --snapshot and --filter need
    /// the intel_pt event; sizes as perf chooses them; filters parsed, resolved in their ELF files and counted against
    /// the PMU's address ranges.
    /// </summary>
    private AuxSettings PlanAux(IReadOnlyList<EventSpec> auxSpecs, PmuCatalog pmus, ILogger log)
    {
        if (auxSpecs.Count > 1) throw new UsageException("only one intel_pt event per recording (as with perf)");
        if (auxSpecs.Count == 0)
        {
            if (options.Snapshot) throw new UsageException("--snapshot needs an AUX area event: -e intel_pt// (snapshot mode keeps the newest Intel PT trace in a ring buffer)");
            if (options.Filters.Count > 0) throw new UsageException("--filter sets Intel PT address filters: it needs -e intel_pt//");
            return new AuxSettings(0, false, 0, "");
        }
        var pmu = pmus.Find(IntelPtDefaultConfig.PmuName) ?? throw new UsageException("the intel_pt PMU disappeared");
        bool privileged = Environment.IsPrivilegedProcess || KernelSettings.Paranoid is < 0;
        IntelPtBufferPlan plan;
        try
        {
            plan = IntelPtBufferPlan.Choose(privileged, options.AuxPages, options.Snapshot, options.SnapshotSize,
                IntelPtBufferPlan.PsbPeriodBytes(pmu, auxSpecs[0].Attr.Config), Environment.SystemPageSize);
        }
        catch (EventParseException e) { throw new UsageException(e.Message); }
        if (plan.Warning is not null) log.LogWarning("{Warning}", plan.Warning);
        string filter = options.Filters.Count == 0 ? "" : ResolveFilters(pmu);
        bool tsc = pmu.Format.TryGetValue("tsc", out var tscTerm) && tscTerm.Decode(auxSpecs[0].Attr) != 0;
        return new AuxSettings(plan.AuxPages, options.Snapshot, plan.SnapshotSize, filter, StitchAtPsb: tsc);
    }

    /// <summary>--filter texts to the kernel's filter string, checked against the PMU's address ranges.</summary>
    private string ResolveFilters(Pmu pmu)
    {
        try { return AddressFilterSet.Build(pmu, options.Filters, options.SystemWide); }
        catch (AddressFilterException e) { throw new UsageException(e.Message); }
    }

    /// <summary>PERF_EVENT_IOC_SET_FILTER on every instance of the AUX event (event 0), before anything is enabled.</summary>
    private static void ApplyAddressFilter(RecordingSession session, string filter)
    {
        foreach (var o in session.Opened.Where(o => o.EventIndex == 0))
        {
            try { PerfEvent.SetFilter(o.Handle, filter); }
            catch (PerfException e)
            {
                string why = e.Errno == Tmds.Linux.LibC.EOPNOTSUPP ? "file-based filters work only on per-task events"
                    : e.Errno == Tmds.Linux.LibC.EINVAL ? "the kernel refused it (a range outside the file's code, a size of 0, or more ranges than the PMU has)"
                    : e.Errno == Tmds.Linux.LibC.ENOENT ? "the file does not exist for the kernel"
                    : e.Message;
                throw new PerfException($"address filter '{filter}' on {session.Events[0].Name} (cpu {o.Cpu}, task {o.Task}): {why}", e.Errno);
            }
        }
    }

    /// <summary>The tid an AUXTRACE names, as perf's auxtrace_mmap_params__set_idx: the task of a per-thread ring;
    /// per CPU, the launched command (perf's thread map) or -1 system-wide.</summary>
    private static int AuxtraceTid(RecordingSession session, int ring) =>
        session.PerThread ? session.RingOwners[ring].Task : session.Target is RecordTarget.Command c ? c.Pid : -1;

    private static string SnapshotSummary(RingPoller poller)
    {
        string laps = poller.SnapshotLaps > 0
            ? $"; {poller.SnapshotLaps} times the trace had gone round the whole buffer since the previous snapshot, so older trace was overwritten unseen (snapshot more often or use a larger -m ,AUX)"
            : "";
        string skipped = poller.SnapshotBytesSkipped > 0 ? $"; {poller.SnapshotBytesSkipped} new bytes left out by the snapshot size" : "";
        return $"[ dotnet-ptrace record: {poller.SnapshotsTaken} snapshots, {poller.AuxBytesDrained} bytes of AUX trace{laps}{skipped} ]";
    }

    /// <summary>
    /// The command's exit status. If we stopped before it exited (signal, --duration, disk full) it gets SIGTERM,
    /// as perf does, then SIGKILL after a grace period.
    /// </summary>
    private static async Task<int> StopChildAsync(ExecGate gate, ILogger log)
    {
        if (!gate.HasExited)
        {
            log.LogInformation("sending SIGTERM to {Pid}", gate.Pid);
            Native.Signals.Send(gate.Pid, Native.Signals.SIGTERM);
            using var grace = new CancellationTokenSource(ChildGrace);
            try { await gate.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException) { gate.Kill(); }
        }
        await gate.WaitForExitAsync(CancellationToken.None);
        return gate.ExitCode;
    }

    private void PrintSummary(PerfDataWriter writer, RecordStatistics statistics)
    {
        if (options.Quiet) return;
        double mb = writer.TotalBytes / (1024.0 * 1024.0);
        string lost = statistics.LostRecords > 0 ? $", {statistics.LostEvents} events lost in {statistics.LostRecords} LOST records" : ", 0 lost";
        if (statistics.Count(PerfRecordType.Auxtrace) > 0)
            lost += string.Create(CultureInfo.InvariantCulture, $", {statistics.AuxtraceBytes / (1024.0 * 1024.0):F3} MB AUX trace") +
                    (statistics.AuxTruncated + statistics.AuxPartial + statistics.AuxCollision > 0
                        ? $" ({statistics.AuxTruncated} truncated, {statistics.AuxPartial} partial, {statistics.AuxCollision} collided AUX records)" : "");
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[ dotnet-ptrace record: Captured and wrote {mb:F3} MB {options.Output} ({statistics.Records} records, {statistics.Samples} samples{lost}) ]"));
    }

    private PerfDataFeatures Features(BuildIdCollector buildIds)
    {
        var host = HostInfo.Collect();
        var kernelNotes = HostInfo.KernelNotes();
        return new PerfDataFeatures
        {
            Hostname = host.Hostname,
            OsRelease = host.OsRelease,
            Arch = host.Arch,
            NrCpusOnline = (uint)host.CpusOnline,
            NrCpusAvailable = (uint)host.CpusAvailable,
            CpuDesc = host.CpuDescription,
            CpuId = host.CpuId,
            TotalMemKb = host.TotalMemKb,
            Cmdline = options.OwnCommandLine.ToArray(),
            TracingData = _tracingData,
            BuildIds = buildIds.Collect(ElfBuildId.TryRead, kernelNotes is null ? null : ElfBuildId.TryReadNotes(kernelNotes)),
        };
    }

    /// <summary>Processes that ran before us get synthesized COMM/FORK/MMAP2 records, attributed to the sideband event.</summary>
    private static void SynthesizeExisting(RecordingSession session, RecordTarget target, BackgroundPerfDataWriter background, bool kernel)
    {
        int sideband = session.Events.Count - 1;
        var synthesizer = new ProcessSynthesizer(new RecordBuilder(session.Events[sideband].Attr.SampleType), session.FirstIdOf(sideband), ElfBuildId.TryRead);
        if (kernel && synthesizer.KernelText() is { } kernelText) background.Post(kernelText, default);
        if (target is RecordTarget.Command)
        {
            // The kernel reports a launched command from its exec on.
            background.Post(RecordBuilder.FinishedRound(), default);
            background.Post(PerfDataWriter.FinishedInitRecord(), default);
            return;
        }
        IEnumerable<int> pids = target switch
        {
            RecordTarget.Threads t => t.Pids,
            _ => synthesizer.AllProcesses(),
        };
        foreach (int pid in pids)
            foreach (var record in synthesizer.Synthesize(pid))
                background.Post(record, default);
        background.Post(RecordBuilder.FinishedRound(), default);
        background.Post(PerfDataWriter.FinishedInitRecord(), default);
    }

    private static EventSpec DefaultEvent(EventParser parser, PmuCatalog pmus, ILogger log)
    {
        // perf's default is cycles; without a hardware PMU (VMs, this machine) it falls back to cpu-clock.
        if (pmus.Find("cpu") is not null) return parser.Parse("cycles");
        log.LogInformation("no hardware PMU: recording cpu-clock instead of cycles");
        return parser.Parse("cpu-clock");
    }

    private IReadOnlyList<int> ResolveCpus()
    {
        var online = CpuList.Online();
        if (options.CpuList is null) return online;
        var wanted = CpuList.Parse(options.CpuList);
        wanted.ValidateAgainst(online);
        return wanted;
    }

    private RecordTarget ResolveAttachTarget()
    {
        if (options.SystemWide) return new RecordTarget.SystemWide();
        var tids = new List<int>();
        var pids = new List<int>();
        foreach (int pid in options.Pids)
        {
            var threads = ProcFs.Threads(pid);
            if (threads.Count == 0) throw new UsageException($"-p {pid}: no such process");
            pids.Add(pid);
            tids.AddRange(threads);
        }
        foreach (int tid in options.Tids)
        {
            if (!ProcFs.Exists(tid)) throw new UsageException($"-t {tid}: no such thread");
            tids.Add(tid);
            int tgid = ProcFs.ProcessOf(tid);
            if (!pids.Contains(tgid)) pids.Add(tgid);
        }
        return new RecordTarget.Threads(tids, pids);
    }

    /// <summary>Fails before anything is opened or renamed when the output cannot be created.</summary>
    internal static void CheckOutputWritable(string path)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) throw new UsageException($"cannot create {path}: directory {dir} does not exist");
        if (Directory.Exists(path)) throw new UsageException($"cannot create {path}: it is a directory");
        if (!Native.Access.CanWrite(dir)) throw new UsageException($"cannot create {path}: no write permission in {dir}");
        if (File.Exists(path) && !Native.Access.CanWrite(path)) throw new UsageException($"cannot create {path}: the existing file is not writable");
    }

    /// <summary>As perf does: an existing output is kept as FILE.old rather than overwritten.</summary>
    internal static void BackupExisting(string path)
    {
        if (File.Exists(path) && new FileInfo(path).Length > 0) File.Move(path, path + ".old", overwrite: true);
    }
}

/// <summary>A request that cannot be carried out as given; the message is the one line the user sees.</summary>
public sealed class UsageException(string message) : Exception(message);
