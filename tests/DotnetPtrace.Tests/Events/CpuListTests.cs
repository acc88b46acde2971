using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

public class CpuListTests
{
    [Theory]
    [InlineData("0", "0")]
    [InlineData("0-3,7", "0|1|2|3|7")]
    [InlineData("7,0-2", "0|1|2|7")]
    [InlineData("3,3,1-3", "1|2|3")]
    [InlineData(" 0-1\n", "0|1")]
    [InlineData("5-5", "5")]
    public void Parse_gives_sorted_distinct_cpus(string text, string expected)
    {
        Assert.Equal(expected, string.Join("|", CpuList.Parse(text)));
    }

    [Theory]
    [InlineData("0-3,7", "0-3,7")]
    [InlineData("3,2,1,0,5,6,9", "0-3,5-6,9")]
    [InlineData("4", "4")]
    public void ToString_folds_runs(string text, string expected)
    {
        Assert.Equal(expected, CpuList.Parse(text).ToString());
    }

    [Theory]
    [InlineData("", "empty CPU list")]
    [InlineData("a", "'a' in CPU list 'a' is not a CPU number")]
    [InlineData("0,,1", "'' in CPU list '0,,1' is not a CPU number")]
    [InlineData("-1", "'-1' in CPU list '-1' is not a CPU number")]
    [InlineData("1-", "'1-' in CPU list '1-' is not a CPU number")]
    [InlineData("3-1", "CPU range '3-1' in CPU list '3-1' runs backwards")]
    [InlineData("0-99999999999", "CPU 99999999999 in CPU list '0-99999999999' is above 65535")]
    public void Parse_errors_are_one_line_and_name_the_problem(string text, string expected)
    {
        var e = Assert.Throws<CpuListException>(() => CpuList.Parse(text));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Online_reads_the_sysfs_file()
    {
        Assert.Equal("0-3,6", CpuList.Online(FakeSysfs.Root).ToString());
    }

    [Fact]
    public void Online_of_this_machine_matches_the_processor_count()
    {
        // Environment.ProcessorCount honours affinity and cgroup limits, so it can be lower, never higher.
        var online = CpuList.Online();
        Assert.InRange(Environment.ProcessorCount, 1, online.Count);
        Assert.Equal(File.ReadAllText("/sys/devices/system/cpu/online").Trim(), online.ToString());
    }

    [Fact]
    public void Online_with_missing_file_says_which_path()
    {
        var e = Assert.Throws<CpuListException>(() => CpuList.Online("/nonexistent-sys"));
        Assert.Contains("/nonexistent-sys/devices/system/cpu/online", e.Message);
    }

    [Fact]
    public void ValidateAgainst_accepts_online_cpus()
    {
        CpuList.Parse("0-1,6").ValidateAgainst(CpuList.Parse("0-3,6"));
    }

    [Fact]
    public void ValidateAgainst_names_the_cpu_that_is_not_online()
    {
        var e = Assert.Throws<CpuListException>(() => CpuList.Parse("0,99").ValidateAgainst(CpuList.Parse("0-1")));
        Assert.Equal("CPU 99 is not online (online: 0-1)", e.Message);
    }

    [Fact]
    public void ValidateAgainst_names_every_missing_cpu()
    {
        var e = Assert.Throws<CpuListException>(() => CpuList.Parse("0-7").ValidateAgainst(CpuList.Parse("0-3,6")));
        Assert.Equal("CPUs 4-5,7 are not online (online: 0-3,6)", e.Message);
    }
}
