using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Profiles;

namespace DotnetPtrace.Cli.Report;

/// <summary>
/// The samples a flame graph is drawn from: those of the first event seen (as stackcollapse-perf.pl does, since
/// mixing events' weights means nothing), counted with what was left out so the user hears about it.
/// </summary>
public sealed class FlameInput(string weight)
{
    private int _eventIndex = -1;

    public StackProfile? Profile { get; private set; }
    public string? EventName { get; private set; }
    public long Samples { get; private set; }
    public long SamplesWithCallchain { get; private set; }
    public long OtherEventSamples { get; private set; }
    public string Weight { get; } = weight;

    /// <summary>True if a sample of <paramref name="attr"/>'s event belongs in the profile.</summary>
    public bool Accept(EventAttrInfo attr, bool hasCallchain)
    {
        ArgumentNullException.ThrowIfNull(attr);
        if (_eventIndex < 0)
        {
            _eventIndex = attr.Index;
            EventName = attr.Name;
            Profile = new StackProfile(UnitOf(Weight, attr.Name));
        }
        if (attr.Index != _eventIndex) { OtherEventSamples++; return false; }
        Samples++;
        if (hasCallchain) SamplesWithCallchain++;
        return true;
    }

    /// <summary>What one unit of weight is: a sample, or one of what the event counts (ns for the clock events).</summary>
    private static string UnitOf(string weight, string eventName) =>
        weight != "period" ? "samples"
        : eventName is "cpu-clock" or "task-clock" ? "ns"
        : eventName;
}
