using System.Runtime.InteropServices;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;
using DotnetPtrace.Tests.Infrastructure;

namespace DotnetPtrace.Tests.Native;

/// <summary>
/// Pins perf_event_attr to the kernel's layout two ways: the offsets in the reference notes (gcc offsetof against
/// the 6.1 uapi header), and a C program compiled here against this machine's /usr/include/linux/perf_event.h.
/// </summary>
public class PerfEventAttrLayoutTests
{
    public static TheoryData<string, int> Offsets => new()
    {
        { "Type", 0 }, { "Size", 4 }, { "Config", 8 }, { "_samplePeriodOrFreq", 16 }, { "SampleType", 24 },
        { "ReadFormat", 32 }, { "Flags", 40 }, { "_wakeupEventsOrWatermark", 48 }, { "BpType", 52 },
        { "_config1OrBpAddr", 56 }, { "_config2OrBpLen", 64 }, { "BranchSampleType", 72 }, { "SampleRegsUser", 80 },
        { "SampleStackUser", 88 }, { "ClockId", 92 }, { "SampleRegsIntr", 96 }, { "AuxWatermark", 104 },
        { "SampleMaxStack", 108 }, { "Reserved2", 110 }, { "AuxSampleSize", 112 }, { "AuxAction", 116 },
        { "SigData", 120 }, { "Config3", 128 },
    };

    [Theory]
    [MemberData(nameof(Offsets))]
    public void Field_offsets_match_the_reference(string field, int offset) =>
        Assert.Equal(offset, (int)Marshal.OffsetOf<PerfEventAttr>(field));

    [Fact]
    public void Size_is_ver8() => Assert.Equal(136, Marshal.SizeOf<PerfEventAttr>());

    public static TheoryData<AttrFlags, int> Bits => new()
    {
        { AttrFlags.Disabled, 0 }, { AttrFlags.Inherit, 1 }, { AttrFlags.Pinned, 2 }, { AttrFlags.Exclusive, 3 },
        { AttrFlags.ExcludeUser, 4 }, { AttrFlags.ExcludeKernel, 5 }, { AttrFlags.ExcludeHv, 6 }, { AttrFlags.ExcludeIdle, 7 },
        { AttrFlags.Mmap, 8 }, { AttrFlags.Comm, 9 }, { AttrFlags.Freq, 10 }, { AttrFlags.InheritStat, 11 },
        { AttrFlags.EnableOnExec, 12 }, { AttrFlags.Task, 13 }, { AttrFlags.Watermark, 14 }, { AttrFlags.PreciseIpLow, 15 },
        { AttrFlags.PreciseIpHigh, 16 }, { AttrFlags.MmapData, 17 }, { AttrFlags.SampleIdAll, 18 }, { AttrFlags.ExcludeHost, 19 },
        { AttrFlags.ExcludeGuest, 20 }, { AttrFlags.ExcludeCallchainKernel, 21 }, { AttrFlags.ExcludeCallchainUser, 22 },
        { AttrFlags.Mmap2, 23 }, { AttrFlags.CommExec, 24 }, { AttrFlags.UseClockId, 25 }, { AttrFlags.ContextSwitch, 26 },
        { AttrFlags.WriteBackward, 27 }, { AttrFlags.Namespaces, 28 }, { AttrFlags.Ksymbol, 29 }, { AttrFlags.BpfEvent, 30 },
        { AttrFlags.AuxOutput, 31 }, { AttrFlags.Cgroup, 32 }, { AttrFlags.TextPoke, 33 }, { AttrFlags.BuildId, 34 },
        { AttrFlags.InheritThread, 35 }, { AttrFlags.RemoveOnExec, 36 }, { AttrFlags.SigTrap, 37 },
    };

    [Theory]
    [MemberData(nameof(Bits))]
    public void Flag_bits_match_the_reference(AttrFlags flag, int bit) => Assert.Equal(1UL << bit, (ulong)flag);

    [Fact]
    public void Precise_ip_is_the_two_bit_field_at_15()
    {
        var attr = new PerfEventAttr { Flags = AttrFlags.Disabled };
        attr.PreciseIp = 3;
        Assert.Equal(AttrFlags.Disabled | AttrFlags.PreciseIpLow | AttrFlags.PreciseIpHigh, attr.Flags);
        attr.PreciseIp = 2;
        Assert.Equal(2, attr.PreciseIp);
        Assert.Equal(AttrFlags.Disabled | AttrFlags.PreciseIpHigh, attr.Flags);
    }

    /// <summary>Every flag bit and offset set through the C bitfield, read back through our struct.</summary>
    [Fact]
    public void Layout_and_bits_agree_with_the_installed_uapi_header()
    {
        string dir = Directory.CreateTempSubdirectory("attr-abi-").FullName;
        string c = Path.Combine(dir, "abi.c");
        File.WriteAllText(c, """
            #include <linux/perf_event.h>
            #include <linux/ioctl.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <string.h>
            #define OFF(f) printf(#f " %zu\n", offsetof(struct perf_event_attr, f))
            #define BIT(f) do { struct perf_event_attr a; memset(&a, 0, sizeof a); a.f = 1; \
                unsigned long long w; memcpy(&w, (char *)&a + 40, 8); printf(#f " %d\n", __builtin_ctzll(w)); } while (0)
            int main(void) {
                OFF(type); OFF(size); OFF(config); OFF(sample_period); OFF(sample_type); OFF(read_format);
                OFF(wakeup_events); OFF(bp_type); OFF(config1); OFF(config2); OFF(branch_sample_type);
                OFF(sample_regs_user); OFF(sample_stack_user); OFF(clockid); OFF(sample_regs_intr);
                OFF(aux_watermark); OFF(sample_max_stack); OFF(aux_sample_size); OFF(sig_data);
                BIT(disabled); BIT(inherit); BIT(exclude_kernel); BIT(enable_on_exec); BIT(watermark); BIT(sample_id_all);
                BIT(mmap2); BIT(comm_exec); BIT(context_switch); BIT(write_backward); BIT(build_id); BIT(sigtrap);
                printf("ioctl_id %lu\nioctl_period %lu\nioctl_set_filter %lu\nioctl_pause %lu\nioctl_modify %lu\nioctl_set_output %lu\n",
                    (unsigned long)PERF_EVENT_IOC_ID, (unsigned long)PERF_EVENT_IOC_PERIOD, (unsigned long)PERF_EVENT_IOC_SET_FILTER,
                    (unsigned long)PERF_EVENT_IOC_PAUSE_OUTPUT, (unsigned long)PERF_EVENT_IOC_MODIFY_ATTRIBUTES,
                    (unsigned long)PERF_EVENT_IOC_SET_OUTPUT);
                return 0;
            }
            """);
        var build = ProcessRunner.Run("gcc", ["-o", Path.Combine(dir, "abi"), c], TimeSpan.FromSeconds(60));
        Assert.True(build.ExitCode == 0, build.ToString());
        var run = ProcessRunner.Run(Path.Combine(dir, "abi"), [], TimeSpan.FromSeconds(10));
        var values = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => ulong.Parse(p[1]));

        var expectedOffsets = new Dictionary<string, string>
        {
            ["type"] = "Type", ["size"] = "Size", ["config"] = "Config", ["sample_period"] = "_samplePeriodOrFreq",
            ["sample_type"] = "SampleType", ["read_format"] = "ReadFormat", ["wakeup_events"] = "_wakeupEventsOrWatermark",
            ["bp_type"] = "BpType", ["config1"] = "_config1OrBpAddr", ["config2"] = "_config2OrBpLen",
            ["branch_sample_type"] = "BranchSampleType", ["sample_regs_user"] = "SampleRegsUser",
            ["sample_stack_user"] = "SampleStackUser", ["clockid"] = "ClockId", ["sample_regs_intr"] = "SampleRegsIntr",
            ["aux_watermark"] = "AuxWatermark", ["sample_max_stack"] = "SampleMaxStack", ["aux_sample_size"] = "AuxSampleSize",
            ["sig_data"] = "SigData",
        };
        foreach (var (c_, cs) in expectedOffsets)
            Assert.True(values[c_] == (ulong)Marshal.OffsetOf<PerfEventAttr>(cs), $"{c_}: C {values[c_]}, C# {Marshal.OffsetOf<PerfEventAttr>(cs)}");

        var bits = new Dictionary<string, AttrFlags>
        {
            ["disabled"] = AttrFlags.Disabled, ["inherit"] = AttrFlags.Inherit, ["exclude_kernel"] = AttrFlags.ExcludeKernel,
            ["enable_on_exec"] = AttrFlags.EnableOnExec, ["watermark"] = AttrFlags.Watermark, ["sample_id_all"] = AttrFlags.SampleIdAll,
            ["mmap2"] = AttrFlags.Mmap2, ["comm_exec"] = AttrFlags.CommExec, ["context_switch"] = AttrFlags.ContextSwitch,
            ["write_backward"] = AttrFlags.WriteBackward, ["build_id"] = AttrFlags.BuildId, ["sigtrap"] = AttrFlags.SigTrap,
        };
        foreach (var (c_, flag) in bits)
            Assert.True(1UL << (int)values[c_] == (ulong)flag, $"{c_}: C bit {values[c_]}, C# {flag}");

        Assert.Equal(PerfIoctl.Id, values["ioctl_id"]);
        Assert.Equal(PerfIoctl.Period, values["ioctl_period"]);
        Assert.Equal(PerfIoctl.SetFilter, values["ioctl_set_filter"]);
        Assert.Equal(PerfIoctl.PauseOutput, values["ioctl_pause"]);
        Assert.Equal(PerfIoctl.ModifyAttributes, values["ioctl_modify"]);
        Assert.Equal(PerfIoctl.SetOutput, values["ioctl_set_output"]);
    }
}
