using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

public class TracefsTests
{
    [Fact]
    public void Fake_tree_ids_and_names()
    {
        var tracefs = FakeSysfs.Tracefs();

        Assert.True(tracefs.IsAvailable);
        Assert.True(tracefs.TryGetEventId("sched", "sched_switch", out ulong id));
        Assert.Equal(312UL, id);
        Assert.False(tracefs.TryGetEventId("sched", "nope", out _));
        Assert.False(tracefs.TryGetEventId("sched", "../sched/sched_switch", out _));
        Assert.True(tracefs.HasSystem("sched"));
        Assert.False(tracefs.HasSystem("header_page"));
        Assert.False(tracefs.HasSystem(".."));
        Assert.Equal(
            ["sched:sched_process_exec", "sched:sched_switch", "sched:sched_wakeup", "syscalls:sys_enter_openat", "syscalls:sys_exit_openat"],
            tracefs.EventNames());
    }

    [Fact]
    public void Format_path_points_at_the_format_file()
    {
        var tracefs = FakeSysfs.Tracefs();

        string? path = tracefs.FormatPath("sched", "sched_switch");

        Assert.NotNull(path);
        Assert.StartsWith("name: sched_switch", File.ReadAllText(path));
        Assert.Null(tracefs.FormatPath("sched", "sched_wakeup"));
        Assert.Null(tracefs.FormatPath("sched", "nope"));
    }

    [Fact]
    public void Missing_root_is_unavailable_with_a_reason()
    {
        var tracefs = new Tracefs("/nonexistent/tracing");

        Assert.False(tracefs.IsAvailable);
        Assert.Contains("/nonexistent/tracing", tracefs.UnavailableReason);
        Assert.False(tracefs.TryGetEventId("sched", "sched_switch", out _));
        Assert.Empty(tracefs.EventNames());
    }

    [Fact]
    public void Real_tracefs_is_found_or_mounted_and_has_sched_switch()
    {
        // Root here: if tracefs is not mounted yet this mounts it at /sys/kernel/tracing.
        var tracefs = new Tracefs();

        Assert.True(tracefs.IsAvailable, tracefs.UnavailableReason);
        Assert.Contains(tracefs.Root, new[] { Tracefs.MountPoint, Tracefs.LegacyMountPoint });
        Assert.True(tracefs.TryGetEventId("sched", "sched_switch", out ulong id));
        Assert.Equal(File.ReadAllText(Path.Combine(tracefs.Root!, "events/sched/sched_switch/id")).Trim(), id.ToString());
        Assert.Contains("sched:sched_switch", tracefs.EventNames());
        Assert.NotNull(tracefs.FormatPath("sched", "sched_switch"));
        Assert.Contains(File.ReadLines("/proc/self/mounts"), line => line.Split(' ') is [_, var target, "tracefs", ..] && target == tracefs.Root);
    }
}
