using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace DotnetPtrace.Tests.Infrastructure;

/// <summary>
/// Debian's chromium, headless, driven over the Chrome DevTools Protocol (a WebSocket of JSON commands): open a
/// page, evaluate script in it, click with the mouse, take a screenshot. Just enough to test what a browser makes
/// of the files we write. CI installs chromium (.ci/install-deps).
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    public const string Executable = "/usr/bin/chromium";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly DirectoryInfo _profile;
    private readonly ClientWebSocket _socket = new();
    private int _nextId;

    private HeadlessChromium(Process process, DirectoryInfo profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>Why chromium cannot be used here, or null when it can.</summary>
    public static string? MissingReason => File.Exists(Executable) ? null : $"{Executable} is not installed (apt-get install chromium; .ci/install-deps does)";

    /// <summary>Starts chromium showing <paramref name="url"/> and connects to that page.</summary>
    public static async Task<HeadlessChromium> OpenAsync(string url, int width = 1280, int height = 900)
    {
        var profile = Directory.CreateTempSubdirectory("dotnet-ptrace-chromium-");
        var psi = new ProcessStartInfo(Executable) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     $"--window-size={width},{height}", $"--user-data-dir={profile.FullName}", "--remote-debugging-port=0", url })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        // Drain its chatter so a full pipe never blocks it.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var browser = new HeadlessChromium(process, profile);
        try
        {
            await browser.ConnectAsync(url);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private async Task ConnectAsync(string url)
    {
        // With port 0 chromium picks a free port and writes it as the first line of DevToolsActivePort.
        string portFile = Path.Combine(_profile.FullName, "DevToolsActivePort");
        var deadline = Stopwatch.StartNew();
        string? port = null;
        while (port is null)
        {
            if (_process.HasExited) throw new InvalidOperationException($"chromium exited with {_process.ExitCode} before listening");
            if (deadline.Elapsed > Timeout) throw new TimeoutException("chromium wrote no DevToolsActivePort");
            if (File.Exists(portFile) && File.ReadAllLines(portFile) is [{ Length: > 0 } first, ..]) port = first;
            else await Task.Delay(50);
        }
        using var http = new HttpClient { Timeout = Timeout };
        string? pageSocket = null;
        while (pageSocket is null)
        {
            if (deadline.Elapsed > Timeout) throw new TimeoutException($"chromium shows no page for {url}");
            using var targets = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"));
            foreach (var t in targets.RootElement.EnumerateArray())
                if (t.GetProperty("type").GetString() == "page" && t.TryGetProperty("webSocketDebuggerUrl", out var ws))
                    pageSocket = ws.GetString();
            if (pageSocket is null) await Task.Delay(50);
        }
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.ConnectAsync(new Uri(pageSocket), cts.Token);
        // Wait for the document (and its onload handlers) to be done.
        while ((await EvaluateAsync("document.readyState")).GetString() != "complete")
        {
            if (deadline.Elapsed > Timeout) throw new TimeoutException($"{url} did not finish loading");
            await Task.Delay(50);
        }
    }

    /// <summary>Sends one CDP command and returns its "result" (events and other replies that arrive meanwhile are dropped).</summary>
    public async Task<JsonElement> SendAsync(string method, object? parameters = null)
    {
        int id = await PostAsync(method, parameters);
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            using var reply = await ReceiveAsync(method, cts.Token);
            if (!reply.RootElement.TryGetProperty("id", out var rid) || rid.GetInt32() != id) continue;
            if (reply.RootElement.TryGetProperty("error", out var error)) throw new InvalidOperationException($"{method}: {error}");
            return reply.RootElement.GetProperty("result").Clone();
        }
    }

    /// <summary>Sends a command without waiting for its reply (for one that blocks, like a click that opens a prompt).</summary>
    public async Task<int> PostAsync(string method, object? parameters = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        byte[] request = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.SendAsync(request, WebSocketMessageType.Text, endOfMessage: true, cts.Token);
        return id;
    }

    /// <summary>Waits for the page to open a JavaScript prompt (Page.enable must have been sent) and answers it.</summary>
    public async Task<string> AnswerPromptAsync(string text)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            using var message = await ReceiveAsync("Page.javascriptDialogOpening", cts.Token);
            if (message.RootElement.TryGetProperty("method", out var m) && m.GetString() == "Page.javascriptDialogOpening")
            {
                string prompt = message.RootElement.GetProperty("params").GetProperty("message").GetString()!;
                await SendAsync("Page.handleJavaScriptDialog", new { accept = true, promptText = text });
                return prompt;
            }
        }
    }

    private async Task<JsonDocument> ReceiveAsync(string waitingFor, CancellationToken token)
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        WebSocketReceiveResult r;
        do
        {
            r = await _socket.ReceiveAsync(buffer, token);
            if (r.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException($"chromium closed the connection while waiting for {waitingFor}");
            message.Write(buffer, 0, r.Count);
        } while (!r.EndOfMessage);
        return JsonDocument.Parse(message.ToArray());
    }

    /// <summary>Evaluates a JavaScript expression in the page and returns its value (JSON-serialisable values only).</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result.TryGetProperty("exceptionDetails", out var ex)) throw new InvalidOperationException($"script failed: {ex}");
        var value = result.GetProperty("result");
        return value.TryGetProperty("value", out var v) ? v : default;
    }

    /// <summary>A left click at page coordinates, as the mouse does it (press, release).</summary>
    public async Task ClickAsync(double x, double y)
    {
        await SendAsync("Input.dispatchMouseEvent", new { type = "mouseMoved", x, y });
        await SendAsync("Input.dispatchMouseEvent", new { type = "mousePressed", x, y, button = "left", clickCount = 1 });
        await SendAsync("Input.dispatchMouseEvent", new { type = "mouseReleased", x, y, button = "left", clickCount = 1 });
    }

    /// <summary>A PNG of the visible page.</summary>
    public async Task<byte[]> ScreenshotAsync()
    {
        var result = await SendAsync("Page.captureScreenshot", new { format = "png" });
        return Convert.FromBase64String(result.GetProperty("data").GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
        try { _profile.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Just enough of PNG to judge a screenshot: size, and the distinct colours of its 8-bit RGB(A) pixels.</summary>
public static class Png
{
    public static (int Width, int Height, int DistinctColours) Inspect(byte[] png)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a];
        if (!png.AsSpan().StartsWith(signature)) throw new InvalidDataException("not a PNG");
        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at + 8 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = Encoding.ASCII.GetString(png, at + 4, 4);
            var body = png.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(body);
                height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                if (body[8] != 8 || body[12] != 0) throw new InvalidDataException($"unexpected PNG: bit depth {body[8]}, interlace {body[12]}");
                channels = body[9] switch { 2 => 3, 6 => 4, _ => throw new InvalidDataException($"unexpected PNG colour type {body[9]}") };
            }
            else if (type == "IDAT") idat.Write(body);
            at += 12 + length;
        }
        idat.Position = 0;
        using var inflate = new ZLibStream(idat, CompressionMode.Decompress);
        int stride = width * channels;
        var previous = new byte[stride];
        var row = new byte[stride];
        var colours = new HashSet<int>();
        for (int y = 0; y < height; y++)
        {
            int filter = inflate.ReadByte();
            inflate.ReadExactly(row);
            Unfilter(filter, row, previous, channels);
            for (int x = 0; x < stride; x += channels) colours.Add(row[x] << 16 | row[x + 1] << 8 | row[x + 2]);
            (previous, row) = (row, previous);
        }
        return (width, height, colours.Count);
    }

    /// <summary>Undoes PNG's per-row filters (None, Sub, Up, Average, Paeth).</summary>
    private static void Unfilter(int filter, byte[] row, byte[] up, int bpp)
    {
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
            row[i] = (byte)(row[i] + filter switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => Paeth(a, b, c),
                _ => throw new InvalidDataException($"PNG filter {filter}"),
            });
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
