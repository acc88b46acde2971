using System.Buffers;
using DotnetPtrace.Decoders.Calls;
using DotnetPtrace.Decoders.IntelPt.Sideband;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// A stream's part of the timeline: per thread, a track (pid, tid, named from the sideband's comm), a complete
/// slice per call written when the call leaves (so a made-up caller of a trace that began mid-stack can still start
/// where the trace began), and instants for gaps, errors, overflows and the AUX data the kernel lost.
/// </summary>
internal sealed class TimelineFormatter(IBufferWriter<byte> output, MappingSymbols symbols, PtRecording recording, TimelineBudget budget)
    : PtCallFormatter(output, symbols, recording.Sideband)
{
    private readonly TimelineWriter _writer = new(output, budget);
    private readonly HashSet<int> _namedProcesses = [];

    protected override ICallSink CreateSink(int tid)
    {
        int pid = Context.Pid;
        if (_namedProcesses.Add(pid)) _writer.Metadata("process_name", pid, pid, recording.Sideband.CommOf(pid) ?? $"pid {pid}");
        _writer.Metadata("thread_name", pid, tid, recording.Sideband.CommOf(tid) is { } comm ? $"{comm} {tid}" : $"tid {tid}");
        foreach (AuxNote note in recording.Sideband.Aux)
        {
            if (note.Tid != tid || !(note.Truncated || note.Partial || note.Collision)) continue;
            string what = note.Truncated ? "lost data: AUX buffer full (TRUNCATED)" : note.Partial ? "lost data: partial AUX record" : "lost data: AUX collision";
            _writer.Instant(pid, tid, "lost", what, note.Time);
        }
        return new Track(this, pid, tid);
    }

    private sealed class Track(TimelineFormatter owner, int pid, int tid) : ICallSink
    {
        private readonly List<string> _names = [];

        public void OnEnter(in CallFrame frame) => _names.Add(owner.Functions.NameOf(frame.Function));

        public void OnExit(in CallFrame frame, in CallExit exit)
        {
            string name = _names[^1];
            _names.RemoveAt(_names.Count - 1);
            owner._writer.Slice(pid, tid, name, frame.EnterTime, exit.Time - frame.EnterTime, exit.Instructions, exit.SelfInstructions, exit.Kind == CallExitKind.Cut);
        }

        public void OnMark(CallMarkKind kind, ulong time, ulong ip)
        {
            string name = kind switch
            {
                CallMarkKind.Gap => "gap: trace missing here",
                CallMarkKind.Error => owner.ErrorMessage ?? "decode error",
                CallMarkKind.Overflow => "lost data: trace overflow (OVF)",
                CallMarkKind.Exec => "exec: a new program",
                _ => $"calls deeper than {CallStackReconstructor.MaxDepth} not shown",
            };
            owner._writer.Instant(pid, tid, kind == CallMarkKind.Overflow ? "lost" : kind.ToString().ToLowerInvariant(), name, time);
        }
    }
}
