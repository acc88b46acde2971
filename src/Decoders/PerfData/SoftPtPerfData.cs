using System.Buffers.Binary;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.SoftPt;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>What a software-PT perf.data needs besides the recording and the encoded traces.</summary>
public sealed record SoftPtFileSettings
{
    /// <summary>The intel_pt config the encoder honoured (tsc, mtc, noretcomp, ... bits at their sysfs positions).</summary>
    public required ulong IntelPtConfig { get; init; }
    /// <summary>The config bit masks, MTC and TSC:CTC values; the time and mode fields are filled in here.</summary>
    public required IntelPtAuxtraceInfo AuxtraceInfo { get; init; }
    /// <summary>The encoder's clock: the TSC of a global step time. perf time is made equal to it.</summary>
    public required Func<long, ulong> TscOf { get; init; }
    /// <summary>An Intel CPU the decoders know (perf and libipt choose errata by family/model).</summary>
    public string CpuId { get; init; } = SoftPtFile.DefaultCpuId;
    public string[] Cmdline { get; init; } = [];
    public string? Hostname { get; init; }
    public string? OsRelease { get; init; }
    /// <summary>Build-ids of the mapped files, so a decoder can tell a rebuilt binary from the one that ran.</summary>
    public IReadOnlyList<BuildIdEntry> BuildIds { get; init; } = [];
    /// <summary>The perf_event_attr type written for the intel_pt event (AUXTRACE_INFO priv[0] repeats it).</summary>
    public uint PmuType { get; init; } = 8;
}

/// <summary>What was written, for the summary line and the closing figures. <paramref name="ReaderWentAway"/>: pipe
/// mode only, the reader closed the pipe before the end (EPIPE); the stream is then cut short.</summary>
public sealed record SoftPtFileSummary(long FileBytes, long TraceBytes, int Threads, int SidebandRecords, bool ReaderWentAway = false);

/// <summary>
/// Writes a single-stepped run as the perf.data Intel PT hardware would have produced in per-thread mode: an
/// intel_pt event and a dummy sideband event, AUXTRACE_INFO (type Intel PT), COMM/FORK/EXIT/MMAP2 and ITRACE_START
/// in time order, one AUXTRACE buffer per thread (cpu -1, its tid) and the AUXTRACE index, and features naming an
/// Intel CPU. The trace is software-generated and says so: CPUDESC and the event name carry the mark.
/// The layout follows ../shared/reference/synthesized-pt-in-perf-data.md (what perf 6.1 needs, and the crashes
/// and silent failures of the alternatives).
/// </summary>
public static class SoftPtFile
{
    // Skylake-SP: a server model, so libipt applies no client-only erratum workaround (skl168) to our emulated stream.
    public const string DefaultCpuId = "GenuineIntel,6,85,4";
    public const string EventName = "intel_pt/soft-pt/";
    public const string CpuDescMark = "dotnet-ptrace software Intel PT (ptrace single-step emulation, not hardware)";

    private const ulong PtId = 1, SidebandId = 2;
    private const SampleType IdLayout = SampleType.Ip | SampleType.Tid | SampleType.Time | SampleType.Cpu | SampleType.Identifier;

    /// <param name="traces">The encoded PT bytes of each thread, in the order of <see cref="ExecutionRecording.Threads"/>.</param>
    public static SoftPtFileSummary Write(FileStream file, ExecutionRecording recording, IReadOnlyList<ReadOnlyMemory<byte>> traces, SoftPtFileSettings settings) =>
        Write(file, pipeMode: false, recording, traces, settings);

    /// <summary>
    /// As above, in file mode (<paramref name="output"/> must then be a seekable <see cref="FileStream"/>) or in pipe
    /// mode (`record --soft-pt -o -`: any writable stream; the same records, with the header and features as records).
    /// Throws IOException on a write error, except when the reader of a pipe went away (see the summary).
    /// </summary>
    public static SoftPtFileSummary Write(Stream output, bool pipeMode, ExecutionRecording recording, IReadOnlyList<ReadOnlyMemory<byte>> traces, SoftPtFileSettings settings)
    {
        if (traces.Count != recording.Threads.Count) throw new ArgumentException("one trace per thread", nameof(traces));
        var ptAttr = new PerfEventAttr
        {
            Type = settings.PmuType, Size = PerfEventAttr.SizeVer7, Config = settings.IntelPtConfig, SamplePeriod = 1,
            SampleType = IdLayout, ReadFormat = ReadFormat.Id,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv | AttrFlags.EnableOnExec,
        };
        var sidebandAttr = new PerfEventAttr
        {
            Type = (uint)PerfType.Software, Size = PerfEventAttr.SizeVer7, Config = (ulong)SoftwareEvent.Dummy, SamplePeriod = 1,
            SampleType = IdLayout, ReadFormat = ReadFormat.Id,
            Flags = AttrFlags.Disabled | AttrFlags.SampleIdAll | AttrFlags.ExcludeKernel | AttrFlags.ExcludeHv | AttrFlags.EnableOnExec
                | AttrFlags.Mmap | AttrFlags.Mmap2 | AttrFlags.Comm | AttrFlags.CommExec | AttrFlags.Task,
        };
        ulong PerfTime(long time) => settings.TscOf(time);
        // Everything is known before the first record, so a pipe gets the same features a file does, up front.
        var features = new PerfDataFeatures
        {
            CapturedCode = CodeWithoutFile(recording, PerfTime),
            BuildIds = settings.BuildIds,
            Hostname = settings.Hostname, OsRelease = settings.OsRelease, Arch = "x86_64",
            NrCpusOnline = 1, NrCpusAvailable = 1, CpuDesc = CpuDescMark, CpuId = settings.CpuId, Cmdline = settings.Cmdline,
        };
        EventAttrEntry[] attrs = [new EventAttrEntry(ptAttr, [PtId], EventName), new EventAttrEntry(sidebandAttr, [SidebandId], "dummy:u")];
        PerfDataWriter writer = pipeMode
            ? PerfDataWriter.CreatePipe(output, attrs, features)
            : new PerfDataWriter(output as FileStream ?? throw new ArgumentException("file mode needs a FileStream", nameof(output)), attrs);
        var build = new RecordBuilder(IdLayout);

        // perf time is the TSC itself: shift 0, mult 1, zero 0 make tsc_to_perf_time the identity.
        writer.WriteData(RecordBuilder.TimeConv(0, 1, 0, 0, 0, capUserTimeZero: true, capUserTimeShort: false));
        writer.WriteData((settings.AuxtraceInfo with
        {
            PmuType = settings.PmuType, TimeShift = 0, TimeMult = 1, TimeZero = 0, CapUserTimeZero = true,
            HaveSchedSwitch = 0, Snapshot = false, PerCpuMmaps = false,
        }).ToRecord());
        // Setup ends here, as in perf: what follows is what the kernel would have reported while tracing.
        writer.WriteData(PerfDataWriter.FinishedInitRecord());

        // Sideband and ITRACE_START merged in time order (a stable sort keeps the tracer's order for equal times).
        var events = new List<(long Time, int Order, byte[] Record)>();
        foreach (SidebandEvent e in recording.Sideband)
        {
            var trailer = new SampleIdTrailer((uint)e.Pid, (uint)e.Tid, PerfTime(e.Time), SidebandId, 0, 0);
            byte[]? record = e.Kind switch
            {
                SidebandKind.Exec => build.Comm((uint)e.Pid, (uint)e.Tid, e.Comm, exec: true, trailer),
                SidebandKind.Fork => build.Fork((uint)e.Pid, (uint)e.ParentPid, (uint)e.Tid, (uint)e.ParentTid, PerfTime(e.Time), trailer),
                SidebandKind.Exit => build.Exit((uint)e.Pid, (uint)e.Pid, (uint)e.Tid, (uint)e.Tid, PerfTime(e.Time), trailer),
                SidebandKind.Mmap => build.Mmap2((uint)e.Pid, (uint)e.Tid, e.Address, e.Length, e.FileOffset, e.Major, e.Minor, e.Inode,
                    e.Prot, e.Flags, e.Path, default, PerfRecordMisc.User, trailer),
                _ => null,
            };
            if (record is not null) events.Add((e.Time, events.Count, record));
        }
        foreach (ThreadExecution t in recording.Threads)
        {
            long start = t.Steps.Count > 0 ? t.TimeOf(0) : 0;
            events.Add((start, events.Count, build.ItraceStart((uint)t.Pid, (uint)t.Tid, new SampleIdTrailer((uint)t.Pid, (uint)t.Tid, PerfTime(start), PtId, 0, 0))));
        }
        events.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Order.CompareTo(b.Order));
        foreach (var (_, _, record) in events) writer.WriteData(record);
        writer.WriteData(RecordBuilder.FinishedRound());

        // One AUXTRACE per thread. The reference is a TSC at or after the buffer's last packet, as perf's rdtsc at
        // copy time would be; perf 6.1 crashes in timed decoding when it is 0.
        long traceBytes = 0;
        var header = new byte[AuxtraceRecordSize];
        for (int i = 0; i < traces.Count; i++)
        {
            ThreadExecution t = recording.Threads[i];
            ReadOnlySpan<byte> trace = traces[i].Span;
            if (trace.IsEmpty) continue;
            int padded = (trace.Length + 7) & ~7;
            long end = t.Steps.Count > 0 ? t.TimeOf(t.Steps.Count - 1) + 1 : 1;
            new PerfEventHeader(PerfRecordType.Auxtrace, 0, AuxtraceRecordSize).Write(header);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), (ulong)padded);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), 0);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(24), Math.Max(1, PerfTime(end)));
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(32), (uint)i);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(36), (uint)t.Tid);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), uint.MaxValue);   // cpu -1: per-thread
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(44), 0);
            var record = new byte[AuxtraceRecordSize + padded];
            header.CopyTo(record, 0);
            trace.CopyTo(record.AsSpan(AuxtraceRecordSize));
            writer.WriteData(record);
            traceBytes += trace.Length;
        }
        writer.WriteData(RecordBuilder.FinishedRound());
        writer.Finish(features);
        if (writer.ReaderWentAway)
            return new SoftPtFileSummary(writer.TotalBytes, traceBytes, recording.Threads.Count, events.Count, ReaderWentAway: true);
        if (writer.WriteError is { } error) throw new IOException($"{(output as FileStream)?.Name ?? "output"}: {error.Message}", error);
        return new SoftPtFileSummary(writer.TotalBytes, traceBytes, recording.Threads.Count, events.Count);
    }

    private const int AuxtraceRecordSize = 48;

    /// <summary>The build-id of every file the recording mapped code from (read by <paramref name="readBuildId"/>).</summary>
    public static List<BuildIdEntry> BuildIdsOf(ExecutionRecording recording, Func<string, byte[]?> readBuildId)
    {
        var result = new List<BuildIdEntry>();
        foreach (string path in recording.Sideband.Where(e => e.Kind == SidebandKind.Mmap && e.Path.StartsWith('/') && !e.Path.StartsWith("//", StringComparison.Ordinal))
                     .Select(e => e.Path).Distinct(StringComparer.Ordinal))
            if (readBuildId(path) is { Length: > 0 and <= BuildIdEntry.MaxBuildIdSize } id)
                result.Add(new BuildIdEntry(BuildIdEntry.HostPid, PerfRecordMisc.User, id, path));
        return result;
    }

    /// <summary>
    /// The captured regions that no file holds ([vdso], anonymous memory): kept in the file so a decoder elsewhere,
    /// or after the process is gone, still has the code. Each is stamped with the time its mapping was seen.
    /// </summary>
    private static List<CapturedCode> CodeWithoutFile(ExecutionRecording recording, Func<long, ulong> perfTime)
    {
        // Each capture as the tracer took it, in time order: code rewritten in place (JIT) is captured again and
        // both versions are kept, each from the time it was seen.
        var result = new List<CapturedCode>();
        foreach (SidebandEvent e in recording.Sideband)
        {
            if (e.Kind != SidebandKind.Mmap || e.Region is not { } region) continue;
            if (region.Path.StartsWith('/') && !region.Path.StartsWith("//anon", StringComparison.Ordinal) && !region.Path.StartsWith("/memfd:", StringComparison.Ordinal)) continue;
            result.Add(new CapturedCode(e.Pid, region.Start, perfTime(e.Time), region.Path, region.Bytes));
        }
        return result;
    }
}
