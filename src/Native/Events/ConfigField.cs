namespace DotnetPtrace.Native.Events;

/// <summary>The perf_event_attr word a PMU format term writes into (the part before ':' in a sysfs format file).</summary>
public enum ConfigField
{
    Config,
    Config1,
    Config2,
    Config3,
}
