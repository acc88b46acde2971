using DotnetPtrace.Cli.Record;

namespace DotnetPtrace.Tests.Record;

public class MmapPagesTests
{
    [Theory]
    [InlineData("128", 128, null)]
    [InlineData("128,16", 128, 16)]
    [InlineData(",16", null, 16)]
    [InlineData("512K,4M", 128, 1024)]
    public void Data_and_aux_sizes_parse_as_perf_takes_them(string text, int? data, int? aux)
    {
        Assert.True(RecordCommand.TryParseMmapPages(text, out int? d, out int? a, out string? error), error);
        Assert.Equal(data, d);
        Assert.Equal(aux, a);
    }

    [Theory]
    [InlineData("3", "power of two")]
    [InlineData("128,3", "power of two")]
    [InlineData("1,2,3", "DATA[,AUX]")]
    [InlineData(",", "expected")]
    public void Bad_sizes_are_refused_with_the_reason(string text, string reason)
    {
        Assert.False(RecordCommand.TryParseMmapPages(text, out _, out _, out string? error));
        Assert.Contains(reason, error);
    }
}
