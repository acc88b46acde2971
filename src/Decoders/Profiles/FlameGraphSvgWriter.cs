using System.Globalization;
using System.Text;

namespace DotnetPtrace.Decoders.Profiles;

/// <summary>How a flame graph is drawn and labelled.</summary>
public sealed record FlameGraphOptions
{
    /// <summary>Big heading, e.g. "Flame Graph".</summary>
    public string Title { get; init; } = "Flame Graph";
    /// <summary>Second line: what the weight is and where it came from ("cpu-clock samples of perf.data").</summary>
    public string? Subtitle { get; init; }
    /// <summary>Image width in pixels.</summary>
    public int Width { get; init; } = 1200;
    public int FrameHeight { get; init; } = 16;
    public int FontSize { get; init; } = 12;
    /// <summary>Frames narrower than this (pixels, unzoomed) are left out with everything above them, so big profiles stay light.</summary>
    public double MinFrameWidth { get; init; } = 0.1;
}

/// <summary>What a written flame graph holds.</summary>
public readonly record struct FlameGraphSummary(int FramesDrawn, int FramesOmitted, ulong OmittedWeight);

/// <summary>
/// Writes a <see cref="StackProfile"/> as one self-contained SVG flame graph (inline CSS and script, nothing
/// fetched): the root at the bottom, each frame a rectangle as wide as its weight, callers below callees, siblings
/// in name order; colours from a hash of the name (kernel frames orange, JIT frames green, others warm), so the
/// same function has the same colour in every graph. Each frame carries a tooltip with its name, weight and share.
/// In a browser: click a frame to zoom to it (its ancestors stay, full width and faded; frames outside it hide),
/// "Reset Zoom" (or a click on the root, or Escape) to go back; Ctrl-F or "Search" highlights frames whose names
/// match a regular expression and shows the share of weight they cover.
/// </summary>
public static class FlameGraphSvgWriter
{
    private const int Pad = 10;
    private const int Top = 64;     // title, subtitle, buttons
    private const int Bottom = 44;  // details line, footer

    public static FlameGraphSummary Write(StackProfile profile, TextWriter output, FlameGraphOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(output);
        options ??= new FlameGraphOptions();
        if (profile.IsEmpty) throw new ArgumentException("The profile holds no stacks: there is nothing to draw.", nameof(profile));

        ulong total = profile.TotalWeight;
        double plotWidth = options.Width - 2 * Pad;
        double pixelsPerUnit = plotWidth / total;
        // Which frames are wide enough, and how deep the drawn part goes (it sets the height).
        var nodes = new List<(StackFrameNode Node, ulong Start)>();
        int omitted = 0;
        ulong omittedWeight = 0;
        int maxDepth = 0;
        var work = new Stack<(StackFrameNode Node, ulong Start)>();
        work.Push((profile.Root, 0));
        while (work.TryPop(out var item))
        {
            nodes.Add(item);
            if (item.Node.Depth > maxDepth) maxDepth = item.Node.Depth;
            ulong start = item.Start;
            var children = item.Node.ChildrenByName().ToList();
            var starts = new ulong[children.Count];
            for (int i = 0; i < children.Count; i++) { starts[i] = start; start += children[i].Total; }
            for (int i = children.Count - 1; i >= 0; i--)
            {
                if (children[i].Total * pixelsPerUnit < options.MinFrameWidth)
                {
                    omitted += CountNodes(children[i]);
                    omittedWeight += children[i].Total;
                    continue;
                }
                work.Push((children[i], starts[i]));
            }
        }

        int height = Top + (maxDepth + 1) * options.FrameHeight + Bottom;
        var w = new SvgText(output);
        Header(w, options, height, total, profile.WeightUnit);
        w.Raw("<g id=\"frames\">\n");
        foreach (var (node, start) in nodes)
            Frame(w, node, start, total, profile.WeightUnit, pixelsPerUnit, options, maxDepth);
        w.Raw("</g>\n");
        Footer(w, options, height, omitted, omittedWeight, total, profile.WeightUnit);
        w.Raw("</svg>\n");
        return new FlameGraphSummary(nodes.Count, omitted, omittedWeight);
    }

    private static int CountNodes(StackFrameNode node)
    {
        int count = 0;
        var work = new Stack<StackFrameNode>();
        work.Push(node);
        while (work.TryPop(out var n))
        {
            count++;
            foreach (var c in n.Children) work.Push(c);
        }
        return count;
    }

    private static void Header(SvgText w, FlameGraphOptions o, int height, ulong total, string unit)
    {
        string width = Num(o.Width);
        w.Raw("<?xml version=\"1.0\" standalone=\"no\"?>\n");
        w.Raw($"<svg version=\"1.1\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" onload=\"init(evt)\" ");
        w.Raw("xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n");
        w.Raw("<style type=\"text/css\"><![CDATA[\n");
        w.Raw(Css.Replace("FONTSIZE", Num(o.FontSize), StringComparison.Ordinal));
        w.Raw("]]></style>\n");
        w.Raw("<script type=\"text/ecmascript\"><![CDATA[\n");
        w.Raw($"var TOTAL = {total.ToString(CultureInfo.InvariantCulture)}, UNIT = \"{JsString(unit)}\", PAD = {Pad}, PLOT = {Num(o.Width - 2 * Pad)}, CHAR = {Num(o.FontSize * 0.59)};\n");
        w.Raw(Script);
        w.Raw("]]></script>\n");
        w.Raw($"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"url(#background)\"/>\n");
        w.Raw("<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\"><stop stop-color=\"#eeeeee\" offset=\"5%\"/><stop stop-color=\"#eeeeb0\" offset=\"95%\"/></linearGradient></defs>\n");
        w.Raw($"<text id=\"title\" x=\"{Num(o.Width / 2.0)}\" y=\"24\" text-anchor=\"middle\">");
        w.Text(o.Title);
        w.Raw("</text>\n");
        if (o.Subtitle is { } sub)
        {
            w.Raw($"<text id=\"subtitle\" x=\"{Num(o.Width / 2.0)}\" y=\"44\" text-anchor=\"middle\">");
            w.Text(sub);
            w.Raw("</text>\n");
        }
        w.Raw($"<text id=\"unzoom\" class=\"button hide\" x=\"{Pad}\" y=\"24\">Reset Zoom</text>\n");
        w.Raw($"<text id=\"search\" class=\"button\" x=\"{Num(o.Width - Pad)}\" y=\"24\" text-anchor=\"end\">Search</text>\n");
        w.Raw($"<text id=\"unsearch\" class=\"button hide\" x=\"{Num(o.Width - Pad)}\" y=\"44\" text-anchor=\"end\">Reset Search</text>\n");
    }

    private static void Frame(SvgText w, StackFrameNode node, ulong start, ulong total, string unit, double pixelsPerUnit,
        FlameGraphOptions o, int maxDepth)
    {
        double x = Pad + start * pixelsPerUnit;
        double width = node.Total * pixelsPerUnit;
        int y = Top + (maxDepth - node.Depth) * o.FrameHeight;
        string name = node.Depth == 0 ? "all" : node.Name;
        w.Raw($"<g class=\"f\" data-s=\"{start.ToString(CultureInfo.InvariantCulture)}\" data-w=\"{node.Total.ToString(CultureInfo.InvariantCulture)}\" data-d=\"{node.Depth}\"><title>");
        w.Text(name);
        w.Raw("\n");
        w.Raw(node.Total.ToString("N0", CultureInfo.InvariantCulture));
        w.Raw(" ");
        w.Text(unit);
        w.Raw($" ({Num(100.0 * node.Total / total, "F2")}%)</title>");
        w.Raw($"<rect x=\"{Num(x, "F2")}\" y=\"{y}\" width=\"{Num(width, "F2")}\" height=\"{o.FrameHeight - 1}\" fill=\"{Colour(name, node.Depth)}\"/>");
        w.Raw($"<text x=\"{Num(x + 3, "F2")}\" y=\"{y + o.FrameHeight - 5}\">");
        w.Text(Fit(name, width, o.FontSize * 0.59));
        w.Raw("</text></g>\n");
    }

    private static void Footer(SvgText w, FlameGraphOptions o, int height, int omitted, ulong omittedWeight, ulong total, string unit)
    {
        w.Raw($"<text id=\"details\" x=\"{Pad}\" y=\"{height - 26}\"> </text>\n");
        w.Raw($"<text id=\"matched\" x=\"{Num(o.Width - Pad)}\" y=\"{height - 26}\" text-anchor=\"end\"> </text>\n");
        w.Raw($"<text id=\"footer\" x=\"{Pad}\" y=\"{height - 8}\">");
        if (omitted > 0)
            w.Text($"{omitted.ToString("N0", CultureInfo.InvariantCulture)} frames narrower than {Num(o.MinFrameWidth)} px not drawn " +
                   $"({omittedWeight.ToString("N0", CultureInfo.InvariantCulture)} {unit}, {Num(100.0 * omittedWeight / total, "F2")}%); " +
                   "the folded stacks (report --folded) hold every frame.");
        else
            w.Text("Every frame is drawn. Click a frame to zoom, Ctrl-F to search.");
        w.Raw("</text>\n");
    }

    /// <summary>The label that fits in <paramref name="width"/> pixels: the name, a cut name ending in "..", or nothing.</summary>
    private static string Fit(string name, double width, double charWidth)
    {
        int fits = (int)((width - 6) / charWidth);
        if (fits < 3) return "";
        if (name.Length <= fits) return name;
        return name[..(fits - 2)] + "..";
    }

    /// <summary>A colour from the name alone (FNV-1a), so a function keeps its colour across graphs and zooms.</summary>
    private static string Colour(string name, int depth)
    {
        if (depth == 0) return "rgb(200,200,200)";
        uint h = 2166136261;
        foreach (char c in name) { h ^= c; h *= 16777619; }
        double v1 = (h & 0xff) / 255.0, v2 = ((h >> 8) & 0xff) / 255.0, v3 = ((h >> 16) & 0xff) / 255.0;
        (int r, int g, int b) = name.EndsWith(FrameNames.KernelSuffix, StringComparison.Ordinal)
            ? (200 + (int)(55 * v1), 110 + (int)(70 * v2), (int)(40 * v3))
            : name.EndsWith(FrameNames.JitSuffix, StringComparison.Ordinal)
            ? (50 + (int)(60 * v1), 190 + (int)(50 * v2), 50 + (int)(60 * v3))
            : (205 + (int)(50 * v3), (int)(230 * v1), (int)(55 * v2));
        return $"rgb({r},{g},{b})";
    }

    private static string Num(double value, string format = "0.##") => value.ToString(format, CultureInfo.InvariantCulture);

    private static string JsString(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
        .Replace("<", "\\x3c", StringComparison.Ordinal).Replace("]]>", "]]\\x3e", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>Writes raw markup or XML-escaped text (names may hold &lt;, &amp;, quotes, even control characters).</summary>
    private sealed class SvgText(TextWriter output)
    {
        public void Raw(string markup) => output.Write(markup);

        public void Text(string text)
        {
            foreach (char c in text)
            {
                switch (c)
                {
                    case '<': output.Write("&lt;"); break;
                    case '>': output.Write("&gt;"); break;
                    case '&': output.Write("&amp;"); break;
                    case '"': output.Write("&quot;"); break;
                    case '\'': output.Write("&apos;"); break;
                    // XML 1.0 forbids other control characters anywhere in a document (lone surrogates become
                    // U+FFFD in the UTF-8 encoder).
                    case < ' ' when c is not '\t': output.Write('?'); break;
                    case '\uFFFE' or '\uFFFF': output.Write('?'); break;
                    default: output.Write(c); break;
                }
            }
        }
    }

    private const string Css = """
        text { font-family: Verdana, sans-serif; font-size: FONTSIZEpx; fill: rgb(0,0,0); }
        #title { font-size: 17px; }
        #subtitle { fill: rgb(90,90,90); }
        .button { cursor: pointer; fill: rgb(30,60,160); }
        .button:hover { text-decoration: underline; }
        .hide { display: none; }
        g.f { cursor: pointer; }
        g.f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }
        g.f text { pointer-events: none; }
        g.parent { opacity: 0.5; }
        g.hidden { display: none; }

        """;

    private const string Script = """
        "use strict";
        var nodes = [], details, matched, unzoomButton, unsearchButton, searchButton, current = null, searchTerm = null;
        function init(evt) {
          var gs = document.querySelectorAll("g.f");
          for (var i = 0; i < gs.length; i++) {
            var g = gs[i], title = g.querySelector("title").textContent;
            var nl = title.indexOf("\n");
            nodes.push({ g: g, rect: g.querySelector("rect"), text: g.querySelector("text"),
              name: title.substring(0, nl), info: title.substring(nl + 1),
              s: +g.getAttribute("data-s"), w: +g.getAttribute("data-w"), d: +g.getAttribute("data-d"),
              fill: g.querySelector("rect").getAttribute("fill") });
            g.frameIndex = i;
          }
          details = document.getElementById("details");
          matched = document.getElementById("matched");
          unzoomButton = document.getElementById("unzoom");
          unsearchButton = document.getElementById("unsearch");
          searchButton = document.getElementById("search");
          unzoomButton.addEventListener("click", unzoom);
          unsearchButton.addEventListener("click", resetSearch);
          searchButton.addEventListener("click", askSearch);
          document.addEventListener("click", function (e) {
            var g = e.target.closest ? e.target.closest("g.f") : null;
            if (g) zoom(nodes[g.frameIndex]);
          });
          document.addEventListener("mouseover", function (e) {
            var g = e.target.closest ? e.target.closest("g.f") : null;
            details.textContent = g ? nodes[g.frameIndex].name + "  " + nodes[g.frameIndex].info : " ";
          });
          document.addEventListener("keydown", function (e) {
            if ((e.ctrlKey || e.metaKey) && (e.key === "f" || e.key === "F")) { e.preventDefault(); askSearch(); }
            else if (e.key === "Escape") { resetSearch(); unzoom(); }
          });
        }
        function place(f, x, width) {
          f.rect.setAttribute("x", x.toFixed(2));
          f.rect.setAttribute("width", width.toFixed(2));
          f.text.setAttribute("x", (x + 3).toFixed(2));
          var fits = Math.floor((width - 6) / CHAR);
          f.text.textContent = fits < 3 ? "" : f.name.length <= fits ? f.name : f.name.substring(0, fits - 2) + "..";
        }
        function zoom(target) {
          if (target.d === 0) { unzoom(); return; }
          current = target;
          var end = target.s + target.w, scale = PLOT / target.w;
          for (var i = 0; i < nodes.length; i++) {
            var f = nodes[i], cls = "f";
            if (f.d >= target.d && f.s >= target.s && f.s + f.w <= end) place(f, PAD + (f.s - target.s) * scale, f.w * scale);
            else if (f.d < target.d && f.s <= target.s && f.s + f.w >= end) { place(f, PAD, PLOT); cls = "f parent"; }
            else cls = "f hidden";
            f.g.setAttribute("class", cls);
          }
          unzoomButton.setAttribute("class", "button");
          if (searchTerm !== null) search(searchTerm);
        }
        function unzoom() {
          current = null;
          var scale = PLOT / TOTAL;
          for (var i = 0; i < nodes.length; i++) {
            place(nodes[i], PAD + nodes[i].s * scale, nodes[i].w * scale);
            nodes[i].g.setAttribute("class", "f");
          }
          unzoomButton.setAttribute("class", "button hide");
          if (searchTerm !== null) search(searchTerm);
        }
        function askSearch() {
          var term = prompt("Search for frames matching (regular expression):", searchTerm || "");
          if (term) search(term);
        }
        // Highlights frames whose name matches; the share counts each sample once, even under nested matches.
        function search(term) {
          var re;
          try { re = new RegExp(term); } catch (err) { re = new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")); }
          searchTerm = term;
          var hits = [];
          for (var i = 0; i < nodes.length; i++) {
            var f = nodes[i];
            if (f.d > 0 && re.test(f.name)) { f.rect.setAttribute("fill", "rgb(230,0,230)"); hits.push(f); }
            else f.rect.setAttribute("fill", f.fill);
          }
          hits.sort(function (a, b) { return a.s - b.s || b.w - a.w; });
          var covered = 0, reach = -1, lo = current ? current.s : 0, hi = current ? current.s + current.w : TOTAL;
          for (var j = 0; j < hits.length; j++) {
            var s = Math.max(hits[j].s, lo), e = Math.min(hits[j].s + hits[j].w, hi);
            if (e <= s) continue;
            if (s < reach) s = reach;
            if (e > s) { covered += e - s; reach = e; }
          }
          var pct = 100 * covered / (hi - lo);
          matched.textContent = "Matched: " + pct.toFixed(2) + "% (" + hits.length + (hits.length === 1 ? " frame)" : " frames)");
          unsearchButton.setAttribute("class", "button");
          return pct;
        }
        function resetSearch() {
          searchTerm = null;
          for (var i = 0; i < nodes.length; i++) nodes[i].rect.setAttribute("fill", nodes[i].fill);
          matched.textContent = " ";
          unsearchButton.setAttribute("class", "button hide");
        }

        """;
}
