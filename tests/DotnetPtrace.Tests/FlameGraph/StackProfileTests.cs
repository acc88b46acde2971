using System.Globalization;
using System.Xml.Linq;
using DotnetPtrace.Decoders.Profiles;

namespace DotnetPtrace.Tests.FlameGraph;

/// <summary>
/// The pure parts: merging stacks, the folded format (FlameGraph README: "frame;frame;frame count", one line per
/// stack) and the SVG as an XML parser (System.Xml, not our writer) reads it.
/// </summary>
public sealed class StackProfileTests
{
    [Fact]
    public void Stacks_merge_by_prefix_and_fold_back_to_what_was_added()
    {
        var p = new StackProfile("instructions");
        p.Add(["a", "b", "c"], 3);
        p.Add(new List<string> { "a", "b" }, 2);
        p.AddLeafFirst(["c", "b", "a"], 4);        // the same stack as the first, innermost first
        p.Add(["a", "d"], 1);
        p.Add(["x;y"], 5);                         // ';' would split the frame
        p.Add([], 7);                              // nothing to charge: ignored
        p.Add(["z"], 0);
        Assert.Equal(15UL, p.TotalWeight);
        Assert.Equal(5, p.StackCount);
        Assert.Equal(3, p.MaxDepth);
        StackFrameNode a = p.Root.Find("a")!;
        Assert.Equal((10UL, 0UL), (a.Total, a.Self));
        Assert.Equal((9UL, 2UL), (a.Find("b")!.Total, a.Find("b")!.Self));
        var text = new StringWriter();
        FoldedStacksWriter.Write(p, text);
        Assert.Equal("a;b 2\na;b;c 7\na;d 1\nx:y 5\n", text.ToString());
    }

    [Fact]
    public void Svg_is_well_formed_xml_with_escaped_names_and_tooltips()
    {
        var p = new StackProfile();
        string nasty = "operator<<(std::ostream&, \"q\" 'a')\u0001";
        p.Add(["main", nasty], 3);
        p.Add(["main", "other"], 1);
        var svg = new StringWriter();
        var summary = FlameGraphSvgWriter.Write(p, svg, new FlameGraphOptions { Subtitle = "a & b" });
        var doc = XDocument.Parse(svg.ToString());
        XNamespace ns = "http://www.w3.org/2000/svg";
        var frames = doc.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "f").ToList();
        Assert.Equal(4, frames.Count);                 // all, main, and its two callees
        Assert.Equal(4, summary.FramesDrawn);
        var titles = frames.Select(g => g.Element(ns + "title")!.Value).ToList();
        Assert.Contains("operator<<(std::ostream&, \"q\" 'a')?\n3 samples (75.00%)", titles);
        Assert.Contains("main\n4 samples (100.00%)", titles);
        double Width(string name) => double.Parse(frames.Single(g => g.Element(ns + "title")!.Value.StartsWith(name + "\n", StringComparison.Ordinal))
            .Element(ns + "rect")!.Attribute("width")!.Value, CultureInfo.InvariantCulture);
        Assert.Equal(Width("all") * 3 / 4, Width("operator<<(std::ostream&, \"q\" 'a')?"), 0.01);
        Assert.Equal(Width("all") / 4, Width("other"), 0.01);
        // Self-contained: nothing refers to another file or URL.
        Assert.DoesNotContain(doc.Descendants().Attributes(), a => a.Name.LocalName is "href" or "src");
    }

    [Fact]
    public void Frames_too_narrow_to_see_are_left_out_and_the_footer_says_so()
    {
        var p = new StackProfile();
        p.Add(["main", "hot"], 1_000_000);
        for (int i = 0; i < 50; i++) p.Add(["main", "cold" + i, "deeper"], 1);
        var svg = new StringWriter();
        var summary = FlameGraphSvgWriter.Write(p, svg);
        Assert.Equal(3, summary.FramesDrawn);          // all, main, hot
        Assert.Equal(100, summary.FramesOmitted);      // each cold frame and the one above it
        Assert.Equal(50UL, summary.OmittedWeight);
        var doc = XDocument.Parse(svg.ToString());
        string footer = doc.Descendants().Single(e => (string?)e.Attribute("id") == "footer").Value;
        Assert.StartsWith("100 frames narrower than 0.1 px not drawn (50 samples, 0.00%)", footer);
    }

    [Fact]
    public void An_empty_profile_cannot_be_drawn()
    {
        Assert.Throws<ArgumentException>(() => FlameGraphSvgWriter.Write(new StackProfile(), new StringWriter()));
    }

    [Theory]
    [InlineData("foo(int, char)", "[/lib/x.so]", "foo")]
    [InlineData("(anonymous namespace)::f(int)", "/bin/p", "(anonymous namespace)::f")]
    [InlineData("net/http.(*Client).Do", "/bin/go", "net/http.(*Client).Do")]
    [InlineData("a;b", "/bin/p", "a:b")]
    [InlineData(null, "/usr/lib/libc.so.6", "[libc.so.6]")]
    [InlineData(null, "[unknown]", "[unknown]")]
    [InlineData(null, "/memfd:doublemapper (deleted)", "[memfd:doublemapper (deleted)]")]
    [InlineData("schedule", "[kernel.kallsyms]", "schedule_[k]")]
    [InlineData("Foo::Bar", "/tmp/perf-123.map", "Foo::Bar_[j]")]
    public void Frame_names_follow_stackcollapse_perf(string? symbol, string dso, string expected)
    {
        // The first row's DSO is bracketed like a kernel module, so stackcollapse-perf.pl would mark it too.
        string name = FrameNames.Frame(symbol, dso);
        Assert.Equal(dso.StartsWith("[/", StringComparison.Ordinal) ? expected + "_[k]" : expected, name);
    }
}

/// <summary>Folded lines come out of the tree in the byte order perl's sort (stackcollapse-perf.pl) gives them.</summary>
public sealed class FoldedOrderTests
{
    [Fact]
    public void Lines_are_in_ordinal_order_even_when_names_prefix_each_other()
    {
        var random = new Random(8);
        string[] names = ["foo", "foo.cold", "foo+1", "foo_x", "fo", "f", "foo;bar", "Foo", "~", "a b", "foo.cold.1"];
        var p = new StackProfile();
        var added = new Dictionary<string, ulong>(StringComparer.Ordinal);
        for (int n = 0; n < 400; n++)
        {
            var stack = Enumerable.Range(0, random.Next(1, 5)).Select(_ => names[random.Next(names.Length)]).ToArray();
            ulong w = (ulong)random.Next(1, 10);
            p.Add(stack, w);
            string key = string.Join(';', stack.Select(s => s.Replace(';', ':')));
            added[key] = added.GetValueOrDefault(key) + w;
        }
        var text = new StringWriter();
        int count = FoldedStacksWriter.Write(p, text);
        var expected = added.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}\n");
        Assert.Equal(string.Concat(expected), text.ToString());
        Assert.Equal(added.Count, count);
    }
}

/// <summary>A profile fed from elsewhere (Intel PT call stacks weighed in time) keeps its unit in the tooltips.</summary>
public sealed class ForeignProfileTests
{
    [Fact]
    public void Tooltips_carry_the_profiles_unit()
    {
        var p = new StackProfile("ns");
        IReadOnlyList<string> stack = new List<string> { "main", "parse" };
        p.Add(stack, 1_500);
        p.Add(new List<string> { "main" }, 500);
        var svg = new StringWriter();
        FlameGraphSvgWriter.Write(p, svg, new FlameGraphOptions { Subtitle = "Intel PT: time per function" });
        var doc = System.Xml.Linq.XDocument.Parse(svg.ToString());
        var titles = doc.Descendants().Where(e => e.Name.LocalName == "title").Select(e => e.Value).ToList();
        Assert.Contains("parse\n1,500 ns (75.00%)", titles);
        Assert.Contains("main\n2,000 ns (100.00%)", titles);
    }
}
