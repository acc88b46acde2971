using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Native.Events;
using Xunit;

namespace DotnetPtrace.Tests.Events;

public class FormatTermTests
{
    [Theory]
    [InlineData("config:0-7", ConfigField.Config, "0-7", 8)]
    [InlineData("config:18", ConfigField.Config, "18", 1)]
    [InlineData("config1:0-63", ConfigField.Config1, "0-63", 64)]
    [InlineData("config2:5\n", ConfigField.Config2, "5", 1)]
    [InlineData("config3:24-27", ConfigField.Config3, "24-27", 4)]
    [InlineData("config:0-7,32", ConfigField.Config, "0-7|32", 9)]
    [InlineData("config:32-35,0-7", ConfigField.Config, "0-7|32-35", 12)]
    public void Parse_reads_field_ranges_and_width(string text, ConfigField field, string ranges, int width)
    {
        var term = FormatTerm.Parse(text);

        Assert.Equal(field, term.Field);
        Assert.Equal(ranges, string.Join("|", term.Ranges));
        Assert.Equal(width, term.Width);
    }

    [Fact]
    public void MaxValue_follows_width()
    {
        Assert.Equal(0xfUL, FormatTerm.Parse("config:24-27").MaxValue);
        Assert.Equal(1UL, FormatTerm.Parse("config:10").MaxValue);
        Assert.Equal(0x1ffUL, FormatTerm.Parse("config:0-7,32").MaxValue);
        Assert.Equal(ulong.MaxValue, FormatTerm.Parse("config1:0-63").MaxValue);
    }

    [Theory]
    [InlineData("")]
    [InlineData("config")]
    [InlineData("config4:0")]
    [InlineData("config:7-0")]
    [InlineData("config:64")]
    [InlineData("config:a")]
    [InlineData("config:0-7,5")]
    [InlineData("config:0-7,")]
    public void Parse_rejects_malformed_formats(string text)
    {
        var e = Assert.Throws<FormatException>(() => FormatTerm.Parse(text));
        Assert.Contains("bad PMU format", e.Message);
    }

    [Fact]
    public void Encode_places_value_at_the_range()
    {
        var attr = default(PerfEventAttr);
        FormatTerm.Parse("config:24-27").Encode(3, ref attr);
        Assert.Equal(0x3000000UL, attr.Config);
    }

    [Fact]
    public void Encode_spreads_value_bits_over_noncontiguous_ranges_low_to_high()
    {
        // AMD's cpu/event is config:0-7,32-35: a 12-bit event number, low byte at 0, high nibble at 32.
        var term = FormatTerm.Parse("config:0-7,32-35");
        var attr = default(PerfEventAttr);

        term.Encode(0xabc, ref attr);

        Assert.Equal(0xa_0000_00bcUL, attr.Config);
        Assert.Equal(0xabcUL, term.Decode(attr));
    }

    [Fact]
    public void Encode_with_ranges_listed_out_of_order_still_fills_lowest_bits_first()
    {
        var term = FormatTerm.Parse("config:32,0-1");
        var attr = default(PerfEventAttr);

        term.Encode(0b110, ref attr);

        // value bit0 -> config bit0 (0), bit1 -> bit1 (1), bit2 -> bit32 (1)
        Assert.Equal((1UL << 32) | 0b10, attr.Config);
    }

    [Fact]
    public void Encode_clears_the_terms_bits_and_leaves_other_bits_alone()
    {
        var attr = default(PerfEventAttr);
        attr.Config = ulong.MaxValue;

        FormatTerm.Parse("config:14-17").Encode(0b0101, ref attr);

        Assert.Equal(ulong.MaxValue & ~(0b1010UL << 14), attr.Config);
    }

    [Fact]
    public void Encode_writes_the_named_config_word_only()
    {
        var attr = default(PerfEventAttr);
        FormatTerm.Parse("config1:0-15").Encode(3, ref attr);
        FormatTerm.Parse("config2:1").Encode(1, ref attr);
        FormatTerm.Parse("config3:63").Encode(1, ref attr);

        Assert.Equal(0UL, attr.Config);
        Assert.Equal(3UL, attr.Config1);
        Assert.Equal(2UL, attr.Config2);
        Assert.Equal(1UL << 63, attr.Config3);
    }

    [Fact]
    public void Encode_full_width_word()
    {
        var attr = default(PerfEventAttr);
        FormatTerm.Parse("config1:0-63").Encode(ulong.MaxValue, ref attr);
        Assert.Equal(ulong.MaxValue, attr.Config1);
    }

    [Fact]
    public void Encode_rejects_a_value_wider_than_the_bits_and_names_the_range()
    {
        var attr = default(PerfEventAttr);
        var e = Assert.Throws<EventParseException>(() => FormatTerm.Parse("config:24-27").Encode(16, ref attr));

        Assert.Contains("config:24-27", e.Message);
        Assert.Contains("at most 15", e.Message);
        Assert.Equal(0UL, attr.Config);
    }
}
