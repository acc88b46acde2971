using System.Text.Json;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.FlameGraph;

/// <summary>
/// The flame graph of samples/work_ratio as a browser shows it (headless chromium): the DOM holds the sampled
/// functions with widths in proportion to their sample counts in the folded stacks (and so to perf script's, see
/// <see cref="FoldedStacksPerfTests"/>), the counts themselves follow the program's 1:2:3 split of work, a mouse
/// click on a frame zooms to it, search reports the share it matched, and a screenshot shows a real picture.
/// </summary>
public sealed class FlameGraphBrowserTests(ITestOutputHelper log)
{
    private sealed record DrawnFrame(string Name, double Width, string Class, double Left, double Top, double Height);

    /// <summary>Every drawn frame: name from its tooltip, rendered width and box, and class (hidden/parent when zoomed).</summary>
    private const string ReadFrames = """
        JSON.stringify(Array.from(document.querySelectorAll("g.f")).map(function (g) {
          var r = g.querySelector("rect"), box = r.getBoundingClientRect();
          return { Name: g.querySelector("title").textContent.split("\n")[0], Width: r.getBBox().width,
                   Class: g.getAttribute("class"), Left: box.left, Top: box.top, Height: box.height };
        }))
        """;

    [Fact]
    public async Task Chromium_shows_widths_in_proportion_and_zooms_on_click()
    {
        if (HeadlessChromium.MissingReason is { } why) { log.WriteLine($"skipped: {why}"); return; }
        var files = WorkRatioRecording.Get();
        var folded = WorkRatioRecording.ParseFolded(File.ReadAllText(files.Folded));
        long total = folded.Sum(l => l.Count);
        long c1 = WorkRatioRecording.CountThrough(folded, "work_1x"), c2 = WorkRatioRecording.CountThrough(folded, "work_2x"), c3 = WorkRatioRecording.CountThrough(folded, "work_3x");
        log.WriteLine($"{files.ReportStderr}samples: total {total}, work_1x {c1}, work_2x {c2}, work_3x {c3}");
        // The program's own split of work, within sampling noise (a few hundred samples each).
        Assert.InRange((double)c2 / c1, 1.5, 2.6);
        Assert.InRange((double)c3 / c1, 2.2, 3.9);

        await using var browser = await HeadlessChromium.OpenAsync(new Uri(files.Svg).AbsoluteUri);
        var frames = await Frames(browser);
        DrawnFrame all = frames.Single(f => f.Name == "all");
        foreach (var (name, count) in new[] { ("work_1x", c1), ("work_2x", c2), ("work_3x", c3), ("main", WorkRatioRecording.CountThrough(folded, "main")) })
        {
            DrawnFrame f = frames.Single(f => f.Name == name);
            double expected = all.Width * count / total;
            log.WriteLine($"{name}: width {f.Width:F2} px, expected {expected:F2} px");
            Assert.InRange(f.Width, expected - 0.05, expected + 0.05);
        }

        // Click work_2x: it fills the plot, its ancestors stay (full width, faded), its siblings hide.
        DrawnFrame target = frames.Single(f => f.Name == "work_2x");
        await browser.ClickAsync(target.Left + target.Width / 2, target.Top + target.Height / 2);
        var zoomed = await Frames(browser);
        Assert.InRange(zoomed.Single(f => f.Name == "work_2x").Width, all.Width - 0.05, all.Width + 0.05);
        Assert.Contains("parent", zoomed.Single(f => f.Name == "main").Class);
        Assert.InRange(zoomed.Single(f => f.Name == "main").Width, all.Width - 0.05, all.Width + 0.05);
        Assert.Contains("hidden", zoomed.Single(f => f.Name == "work_1x").Class);
        Assert.Contains("hidden", zoomed.Single(f => f.Name == "work_3x").Class);
        Assert.Equal("button", (await browser.EvaluateAsync("document.getElementById('unzoom').getAttribute('class')")).GetString());

        // Reset Zoom by mouse, then search: the matched share is the functions' share of all samples.
        var reset = await browser.EvaluateAsync("JSON.stringify(document.getElementById('unzoom').getBoundingClientRect())");
        using (var box = JsonDocument.Parse(reset.GetString()!))
            await browser.ClickAsync(box.RootElement.GetProperty("x").GetDouble() + 5, box.RootElement.GetProperty("y").GetDouble() + 5);
        var unzoomed = await Frames(browser);
        Assert.InRange(unzoomed.Single(f => f.Name == "work_2x").Width, target.Width - 0.05, target.Width + 0.05);
        Assert.DoesNotContain(unzoomed, f => f.Class != "f");
        double matched = (await browser.EvaluateAsync("search('^work_[13]x$')")).GetDouble();
        Assert.InRange(matched, 100.0 * (c1 + c3) / total - 0.01, 100.0 * (c1 + c3) / total + 0.01);
        string label = (await browser.EvaluateAsync("document.getElementById('matched').textContent")).GetString()!;
        Assert.StartsWith("Matched: ", label);

        // The search button and Ctrl-F ask for the pattern (a prompt) and show what it matched.
        await browser.SendAsync("Page.enable");
        var search = await browser.EvaluateAsync("JSON.stringify(document.getElementById('search').getBoundingClientRect())");
        using (var box = JsonDocument.Parse(search.GetString()!))
        {
            double x = box.RootElement.GetProperty("x").GetDouble() + 5, y = box.RootElement.GetProperty("y").GetDouble() + 5;
            await browser.SendAsync("Input.dispatchMouseEvent", new { type = "mousePressed", x, y, button = "left", clickCount = 1 });
            await browser.PostAsync("Input.dispatchMouseEvent", new { type = "mouseReleased", x, y, button = "left", clickCount = 1 });
        }
        Assert.Contains("regular expression", await browser.AnswerPromptAsync("work_3x"));
        Assert.Equal($"Matched: {100.0 * c3 / total:F2}% (1 frame)", (await browser.EvaluateAsync("document.getElementById('matched').textContent")).GetString());
        await browser.PostAsync("Input.dispatchKeyEvent", new { type = "keyDown", key = "f", code = "KeyF", windowsVirtualKeyCode = 70, modifiers = 2 });
        await browser.AnswerPromptAsync("^main$");
        await browser.SendAsync("Input.dispatchKeyEvent", new { type = "keyUp", key = "f", code = "KeyF", windowsVirtualKeyCode = 70, modifiers = 2 });
        Assert.Equal($"Matched: {100.0 * WorkRatioRecording.CountThrough(folded, "main") / total:F2}% (1 frame)",
            (await browser.EvaluateAsync("document.getElementById('matched').textContent")).GetString());

        byte[] png = await browser.ScreenshotAsync();
        string shot = Path.Combine(Path.GetDirectoryName(files.Svg)!, "flamegraph.png");
        await File.WriteAllBytesAsync(shot, png);
        var (width, height, colours) = Png.Inspect(png);
        log.WriteLine($"screenshot {shot}: {width}x{height}, {png.Length} bytes, {colours} colours");
        Assert.True(width >= 1200 && height >= 300, $"{width}x{height}");
        Assert.True(colours >= 16, $"only {colours} distinct colours: the page looks blank");
    }

    private static async Task<List<DrawnFrame>> Frames(HeadlessChromium browser) =>
        JsonSerializer.Deserialize<List<DrawnFrame>>((await browser.EvaluateAsync(ReadFrames)).GetString()!)!;
}
