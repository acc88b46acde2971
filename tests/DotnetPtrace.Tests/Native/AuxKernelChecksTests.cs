using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native;
using static Tmds.Linux.LibC;

namespace DotnetPtrace.Tests.Native;

/// <summary>
/// The real kernel validates an AUX mapping before it asks the PMU whether it has an AUX area at all. A software
/// event has none, so a mapping that passes every check fails with EOPNOTSUPP, while breaking any single rule fails
/// earlier with EINVAL. Comparing the two proves our offsets and sizes satisfy the kernel without Intel PT.
/// </summary>
public unsafe class AuxKernelChecksTests
{
    private static readonly long Page = Environment.SystemPageSize;

    private static PerfEventHandle OpenSoftwareEvent()
    {
        var attr = new PerfEventAttr
        {
            Type = (uint)PerfType.Software,
            Config = (ulong)SoftwareEvent.CpuClock,
            SamplePeriod = 1_000_000,
            SampleType = SampleType.Ip,
            Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel,
        };
        return PerfEvent.Open(ref attr, 0, -1, null, "cpu-clock:u");
    }

    /// <summary>Writes aux_offset/aux_size as given and maps (offset, length): returns the errno (0 = mapped).</summary>
    private static int TryMapAux(DataRing ring, ulong auxOffset, ulong auxSize, long mmapOffset, long mmapLength)
    {
        UserPage.Write(ring.UserPageAddress, UserPage.AuxOffset, auxOffset);
        UserPage.Write(ring.UserPageAddress, UserPage.AuxSize, auxSize);
        try
        {
            using var map = MappedRegion.Map(ring.Owner!, mmapLength, mmapOffset, writable: true, "AUX area");
            return 0;
        }
        catch (PerfException e) { return e.Errno; }
    }

    [Fact]
    public void A_correct_mapping_passes_every_check_and_reaches_the_PMU()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        var e = Assert.Throws<PerfException>(() => AuxRing.Map(ring, 8, snapshot: false));
        Assert.Equal(EOPNOTSUPP, e.Errno);
        var s = Assert.Throws<PerfException>(() => AuxRing.Map(ring, 8, snapshot: true));
        Assert.Equal(EOPNOTSUPP, s.Errno);
    }

    [Fact]
    public void The_aux_offset_is_the_end_of_the_data_mapping()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        Assert.Equal(Page * 5, AuxRing.AuxOffsetFor(ring));
        Assert.Equal(EOPNOTSUPP, TryMapAux(ring, (ulong)(Page * 5), (ulong)(Page * 2), Page * 5, Page * 2));
    }

    [Fact]
    public void An_offset_inside_the_data_area_is_refused()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        Assert.Equal(EINVAL, TryMapAux(ring, (ulong)(Page * 4), (ulong)(Page * 2), Page * 4, Page * 2));
    }

    [Fact]
    public void A_page_count_that_is_not_a_power_of_two_is_refused()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        Assert.Equal(EINVAL, TryMapAux(ring, (ulong)(Page * 5), (ulong)(Page * 3), Page * 5, Page * 3));
    }

    [Fact]
    public void An_mmap_offset_other_than_aux_offset_is_refused()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        Assert.Equal(EINVAL, TryMapAux(ring, (ulong)(Page * 5), (ulong)(Page * 2), Page * 6, Page * 2));
    }

    [Fact]
    public void An_mmap_length_other_than_aux_size_is_refused()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        Assert.Equal(EINVAL, TryMapAux(ring, (ulong)(Page * 5), (ulong)(Page * 2), Page * 5, Page * 4));
    }

    [Fact]
    public void An_aux_mapping_before_the_data_ring_is_refused()
    {
        using var fd = OpenSoftwareEvent();
        var e = Assert.Throws<PerfException>(() => MappedRegion.Map(fd, Page * 2, Page * 5, writable: true, "AUX area"));
        Assert.Equal(EINVAL, e.Errno);
    }

    [Fact]
    public void Our_own_checks_say_why()
    {
        using var fd = OpenSoftwareEvent();
        using var ring = DataRing.Map(fd, -1, 4);
        Assert.Contains("power of two", Assert.Throws<PerfException>(() => AuxRing.Map(ring, 3, false)).Message);
    }
}

/// <summary>The session's AUX path on this machine: a software event has no AUX area, and the error says so.</summary>
public class AuxSessionTests
{
    [Fact]
    public void Asking_for_an_AUX_area_on_an_event_without_one_names_it()
    {
        var attr = new PerfEventAttr
        {
            Type = (uint)PerfType.Software, Config = (ulong)SoftwareEvent.CpuClock, SamplePeriod = 1_000_000,
            SampleType = SampleType.Ip, Flags = AttrFlags.Disabled | AttrFlags.ExcludeKernel,
        };
        var e = Assert.Throws<PerfException>(() => RecordingSession.Open(
            [new EventConfig("cpu-clock:u", attr)], new RecordTarget.Threads([Environment.ProcessId], [Environment.ProcessId]), [0], 4, auxPages: 16));
        Assert.Contains("'cpu-clock:u' has no AUX area", e.Message);
    }
}
