using DotnetPtrace.Native.Events;

namespace DotnetPtrace.Tests.Events;

/// <summary>The checked-in fake sysfs tree (TestData/sysfs), copied next to the test assembly.</summary>
internal static class FakeSysfs
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "TestData", "sysfs");

    public static string PmuRoot => Path.Combine(Root, "bus", "event_source", "devices");

    public static string TracefsRoot => Path.Combine(Root, "kernel", "tracing");

    public static PmuCatalog Pmus() => new(PmuRoot);

    public static Tracefs Tracefs() => new(TracefsRoot);

    public static EventParser Parser() => new(Pmus(), Tracefs());
}
