using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using DotnetPtrace.Cli.Dump;
using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Cli.Progress;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Symbols;

namespace DotnetPtrace.Cli.Script;

/// <summary>Runs `script`: sideband records feed the symbol resolver, samples are printed in file order.</summary>
public sealed class ScriptRunner(ScriptOptions options)
{
    /// <summary>Callchain values at or above this are PERF_CONTEXT_* markers, not addresses.</summary>
    private const ulong ContextMax = unchecked((ulong)-4095);
    private const ulong ContextKernel = unchecked((ulong)-128);
    private const ulong ContextUser = unchecked((ulong)-512);

    private readonly SymbolResolver _symbols = new(vdsoImage: Native.VdsoImage.ReadOwn, demangle: Native.CxxDemangler.Demangle);

    public int Run()
    {
        if (!InputOption.CanOpen("script", options.Input)) return ReturnCode.UsageError;
        using var file = PerfDataReader.Open(options.Input);
        using var reader = new TimeOrderedReader(file);
        using var output = Utf8Output.StandardOutput();
        using var json = options.Json ? new Utf8JsonWriter(new OutputStream(output), new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true }) : null;
        long badSamples = 0;
        using var progress = new ProgressLine("reading", file.IsPipe ? 0 : (long)file.DataSection.Size, quiet: !Console.IsOutputRedirected);
        while (reader.TryRead(out PerfRecord r))
        {
            progress.Update(r.Offset);
            if (r.Type != PerfRecordType.Sample) { _symbols.Observe(r); continue; }
            if (r.Attr is not { } attr || !SampleParser.TryParse(r.Bytes, attr, out PerfSample s, out _)) { badSamples++; continue; }
            if (json is not null) WriteJson(json, output, attr, s);
            else WriteText(output, attr, s);
        }
        json?.Flush();
        output.Flush();
        if (badSamples > 0) Console.Error.WriteLine($"dotnet-ptrace script: {badSamples} samples skipped (no event or too short for their sample_type)");
        foreach (var warning in file.Warnings)
            Console.Error.WriteLine(InputOption.Describe("script", options.Input, warning).Replace(": at offset", ": warning: at offset"));
        if (file.Error is { } error)
        {
            Console.Error.WriteLine(InputOption.Describe("script", options.Input, error));
            return ReturnCode.RecordingError;
        }
        return ReturnCode.Ok;
    }

    private void WriteText(Utf8Output o, EventAttrInfo attr, in PerfSample s)
    {
        ScriptFields f = options.Fields;
        Span<byte> b = o.GetSpan();
        int n = 0, w;
        // perf pads comm to 16 columns except when a callchain follows on its own lines.
        bool chain = (f & ScriptFields.Callchain) != 0 && s.Has(SampleType.Callchain) && s.Callchain.Length > 0
            && (f & (ScriptFields.Ip | ScriptFields.Sym | ScriptFields.Dso)) != 0;
        if ((f & ScriptFields.Comm) != 0)
        {
            if (chain) Utf8.TryWrite(b, $"{_symbols.Comm((int)s.Tid)} ", out w);
            else Utf8.TryWrite(b, $"{_symbols.Comm((int)s.Tid),16} ", out w);
            n += w;
        }
        if ((f & (ScriptFields.Pid | ScriptFields.Tid)) == (ScriptFields.Pid | ScriptFields.Tid)) { Utf8.TryWrite(b[n..], $"{(int)s.Pid,7}/{(int)s.Tid,-7} ", out w); n += w; }
        else if ((f & ScriptFields.Pid) != 0) { Utf8.TryWrite(b[n..], $"{(int)s.Pid,7} ", out w); n += w; }
        else if ((f & ScriptFields.Tid) != 0) { Utf8.TryWrite(b[n..], $"{(int)s.Tid,7} ", out w); n += w; }
        if ((f & ScriptFields.Cpu) != 0 && s.Has(SampleType.Cpu)) { Utf8.TryWrite(b[n..], $"[{s.Cpu:D3}] ", out w); n += w; }
        if ((f & ScriptFields.Time) != 0 && s.Has(SampleType.Time))
        {
            if (options.Nanoseconds) Utf8.TryWrite(b[n..], $"{s.Time / 1_000_000_000,5}.{s.Time % 1_000_000_000:D9}: ", out w);
            else Utf8.TryWrite(b[n..], $"{s.Time / 1_000_000_000,5}.{s.Time % 1_000_000_000 / 1000:D6}: ", out w);
            n += w;
        }
        if ((f & ScriptFields.Period) != 0) { Utf8.TryWrite(b[n..], $"{s.Period,10} ", out w); n += w; }
        o.Advance(n);
        if ((f & ScriptFields.Event) != 0) { o.Write(attr.Name); o.Write(": "u8); }
        bool showAddress = (f & (ScriptFields.Ip | ScriptFields.Sym | ScriptFields.Dso)) != 0;
        if (showAddress && (f & ScriptFields.Callchain) != 0 && s.Has(SampleType.Callchain) && s.Callchain.Length > 0)
        {
            o.Write("\n"u8);
            bool kernel = s.CpuMode == PerfRecordMisc.Kernel;
            foreach (ulong ip in s.Callchain)
            {
                if (ip >= ContextMax) { kernel = ip == ContextKernel || (ip != ContextUser && kernel); continue; }
                o.Write("\t"u8);
                WriteAddress(o, (int)s.Pid, ip, kernel, f);
                o.Write("\n"u8);
            }
            o.Write("\n"u8);
            return;
        }
        if (showAddress && s.Has(SampleType.Ip)) WriteAddress(o, (int)s.Pid, s.Ip, s.CpuMode == PerfRecordMisc.Kernel, f);
        o.Write("\n"u8);
    }

    private void WriteAddress(Utf8Output o, int pid, ulong ip, bool kernel, ScriptFields f)
    {
        if ((f & ScriptFields.Ip) != 0) WriteHex16(o, ip);
        if ((f & (ScriptFields.Sym | ScriptFields.Dso)) != 0) o.Write(SymbolText(pid, ip, kernel, f));
    }

    /// <summary>
    /// " sym+0xoff (dso)" as UTF-8, cached per address: callchains repeat the same frames millions of times, and
    /// resolving and transcoding each again was most of script's time. An entry is valid while the process's
    /// mappings are unchanged (<see cref="SymbolResolver.MapGeneration"/>); kernel addresses never change.
    /// </summary>
    private byte[] SymbolText(int pid, ulong ip, bool kernel, ScriptFields f)
    {
        int key = kernel ? -1 : pid;
        int generation = kernel ? 0 : _symbols.MapGeneration(pid);
        if (_symbolText.TryGetValue((key, ip), out var cached) && cached.Generation == generation) return cached.Text;
        if (_symbolText.Count >= MaxCachedSymbols) _symbolText.Clear();
        ResolvedSymbol sym = _symbols.Resolve(pid, ip, kernel);
        var text = new StringBuilder();
        if ((f & ScriptFields.Sym) != 0)
        {
            text.Append(' ').Append(sym.Name ?? SymbolResolver.Unknown);
            if ((f & ScriptFields.SymOff) != 0 && sym.Name is not null) text.Append("+0x").Append(sym.Offset.ToString("x", CultureInfo.InvariantCulture));
        }
        if ((f & ScriptFields.Dso) != 0) text.Append(" (").Append(sym.Dso).Append(')');
        byte[] bytes = Encoding.UTF8.GetBytes(text.ToString());
        _symbolText[(key, ip)] = (generation, bytes);
        return bytes;
    }

    private const int MaxCachedSymbols = 1 << 20;
    private readonly Dictionary<(int Pid, ulong Ip), (int Generation, byte[] Text)> _symbolText = [];

    /// <summary>An address right-aligned in 16 columns of lowercase hex, as perf prints it ("%16lx").</summary>
    private static void WriteHex16(Utf8Output o, ulong value)
    {
        Span<byte> b = o.GetSpan()[..16];
        int digits = value == 0 ? 1 : (64 - System.Numerics.BitOperations.LeadingZeroCount(value) + 3) / 4;
        b[..(16 - digits)].Fill((byte)' ');
        for (int i = 15; i >= 16 - digits; i--, value >>= 4) b[i] = "0123456789abcdef"u8[(int)(value & 0xF)];
        o.Advance(16);
    }

    private void WriteJson(Utf8JsonWriter j, Utf8Output o, EventAttrInfo attr, in PerfSample s)
    {
        bool kernel = s.CpuMode == PerfRecordMisc.Kernel;
        ResolvedSymbol sym = _symbols.Resolve((int)s.Pid, s.Ip, kernel);
        j.WriteStartObject();
        j.WriteString("comm", _symbols.Comm((int)s.Tid));
        j.WriteNumber("pid", (int)s.Pid);
        j.WriteNumber("tid", (int)s.Tid);
        if (s.Has(SampleType.Cpu)) j.WriteNumber("cpu", s.Cpu);
        if (s.Has(SampleType.Time)) j.WriteNumber("time", s.Time);
        j.WriteNumber("period", s.Period);
        j.WriteString("event", attr.Name);
        j.WriteString("ip", $"0x{s.Ip:x}");
        if (sym.Name is not null) { j.WriteString("sym", sym.Name); j.WriteString("symoff", $"0x{sym.Offset:x}"); }
        else j.WriteNull("sym");
        j.WriteString("dso", sym.Dso);
        if (s.Has(SampleType.Callchain))
        {
            j.WriteStartArray("callchain");
            bool k = kernel;
            foreach (ulong ip in s.Callchain)
            {
                if (ip >= ContextMax) { k = ip == ContextKernel || (ip != ContextUser && k); continue; }
                ResolvedSymbol frame = _symbols.Resolve((int)s.Pid, ip, k);
                j.WriteStartObject();
                j.WriteString("ip", $"0x{ip:x}");
                if (frame.Name is not null) j.WriteString("sym", frame.Name); else j.WriteNull("sym");
                j.WriteString("dso", frame.Dso);
                j.WriteEndObject();
            }
            j.WriteEndArray();
        }
        j.WriteEndObject();
        j.Flush();
        j.Reset();
        o.Write("\n"u8);
    }

    /// <summary>Lets Utf8JsonWriter write into the shared output buffer, so JSON and text share one path.</summary>
    private sealed class OutputStream(Utf8Output output) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) => output.Write(buffer);
    }
}
