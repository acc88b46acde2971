using System.Globalization;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Native.SoftPt;
using DotnetPtrace.Tests.Infrastructure;
using Iced.Intel;

namespace DotnetPtrace.Tests.SoftPt;

/// <summary>Runs the tracer on samples and checks recordings against gcc's binutils (objdump, nm) and Iced.</summary>
internal static class SoftPtTestSupport
{
    /// <summary>Traces a command with its stdout captured; a hard limit of 120 s turns a hang into a failure.</summary>
    public static (ExecutionRecording Recording, string Stdout) Trace(ITestOutputHelper log, params string[] command)
    {
        string stdout = Path.GetTempFileName();
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var rec = SoftPtTracer.Run(command, new SoftPtTracerOptions { StandardOutputPath = stdout }, limit.Token);
            Assert.False(rec.Truncated, $"tracing {string.Join(' ', command)} did not finish in 120 s");
            log.WriteLine($"{Path.GetFileName(command[0])}: {rec.TotalSteps} steps in {rec.ElapsedSeconds:F2} s = {rec.TotalSteps / Math.Max(rec.ElapsedSeconds, 1e-9):F0} steps/s, exit {rec.ExitCode}");
            foreach (var e in rec.Sideband.Where(e => e.Kind is SidebandKind.Exec or SidebandKind.Fork))
                log.WriteLine($"  {e.Kind} pid {e.Pid} tid {e.Tid} {e.Path} at {e.Time}");
            foreach (var t in rec.Threads) log.WriteLine($"  thread {t.Pid}/{t.Tid}: {t.Steps.Count} entries");
            return (rec, File.ReadAllText(stdout));
        }
        finally
        {
            File.Delete(stdout);
        }
    }

    /// <summary>The instructions of a thread's log, without markers.</summary>
    public static ulong[] Instructions(ThreadExecution t)
    {
        var list = new List<ulong>(t.Steps.Count);
        foreach (ulong e in t.Steps.AsSpan()) if (!StepMarker.IsMarker(e)) list.Add(e);
        return [.. list];
    }

    public static ProcessResult Tool(string file, params string[] args)
    {
        var r = ProcessRunner.Run(file, args, TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, $"{file} failed: {r}");
        return r;
    }

    /// <summary>Symbol values from <c>nm</c> (link-time addresses).</summary>
    public static Dictionary<string, ulong> Symbols(string binary)
    {
        var symbols = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (string line in Tool("nm", binary).Stdout.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3 && ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong value))
                symbols.TryAdd(parts[2], value);
        }
        return symbols;
    }

    /// <summary>The instructions of one function from <c>objdump -d</c>: (link-time address, text such as "rep movsb %ds:(%rsi),%es:(%rdi)").</summary>
    public static List<(ulong Address, string Text)> Disassembly(string binary, string function)
    {
        var result = new List<(ulong, string)>();
        bool inside = false;
        foreach (string line in Tool("objdump", "-d", "--no-show-raw-insn", binary).Stdout.Split('\n'))
        {
            if (line.EndsWith($"<{function}>:", StringComparison.Ordinal)) { inside = true; continue; }
            if (!inside) continue;
            if (line.Trim().Length == 0) break;
            int colon = line.IndexOf(':');
            if (colon < 0 || !ulong.TryParse(line.AsSpan(0, colon).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong address)) break;
            result.Add((address, line[(colon + 1)..].Trim()));
        }
        Assert.True(result.Count > 0, $"objdump shows no function {function} in {binary}");
        return result;
    }

    /// <summary>
    /// What samples/softpt/loop.S runs, from its disassembly: _start's mov, 1000 x (dec, jnz), call f, f's ret, lea,
    /// lea, mov, rep movsb (16 iterations: one instruction), mov, mov, syscall.
    /// </summary>
    public static List<ulong> LoopInstructions(string loopBinary)
    {
        var start = Disassembly(loopBinary, "_start");
        var f = Disassembly(loopBinary, "f");
        Assert.Equal(11, start.Count);
        Assert.StartsWith("rep movsb", start[7].Text);
        Assert.Equal("syscall", start[10].Text);
        Assert.Equal("ret", f[0].Text);
        var expected = new List<ulong> { start[0].Address };
        for (int i = 0; i < 1000; i++) { expected.Add(start[1].Address); expected.Add(start[2].Address); }
        expected.Add(start[3].Address);
        expected.Add(f[0].Address);
        for (int i = 4; i <= 10; i++) expected.Add(start[i].Address);
        return expected;
    }

    /// <summary>
    /// Where link-time addresses of <paramref name="binary"/> ran: 0 for a fixed-address executable (ELF type
    /// ET_EXEC), else the load base seen in the recording (start of its executable mapping minus the file offset;
    /// gcc links PIE segments with virtual address = file offset).
    /// </summary>
    public static ulong LoadBias(ExecutionRecording rec, string binary, int pid)
    {
        byte[] header = new byte[18];
        using (var f = File.OpenRead(binary)) f.ReadExactly(header);
        if (BitConverter.ToUInt16(header, 16) == 2 /* ET_EXEC */) return 0;
        string full = Path.GetFullPath(binary);
        var map = rec.Sideband.First(e => e.Kind == SidebandKind.Mmap && e.Pid == pid && e.Path == full);
        return map.Address - map.FileOffset;
    }

    /// <summary>The code region holding <paramref name="address"/> in address space <paramref name="spaceId"/>, over the whole run.</summary>
    public static CodeRegion? RegionAt(ExecutionRecording rec, int spaceId, ulong address) =>
        rec.AddressSpaces[spaceId].Find(address)
        ?? rec.Sideband.FirstOrDefault(e => e.Kind == SidebandKind.Mmap && e.AddressSpaceId == spaceId && e.Region is { } r && address >= r.Start && address < r.End)?.Region;

    /// <summary>
    /// Iced's independent check of every thread: each logged address lies in captured executable code and starts
    /// a valid instruction, and each next address is one that instruction can go to (the next instruction after
    /// straight-line code, the target of a direct jump or call, either way of a conditional branch; anything after
    /// returns and indirect branches; a syscall may be restarted). Signal markers break the chain (the handler
    /// follows). Returns the number of instructions checked.
    /// </summary>
    public static long CheckFlow(ExecutionRecording rec)
    {
        long checkedCount = 0;
        foreach (var t in rec.Threads)
        {
            int space = t.AddressSpaceId;
            bool havePrevious = false;
            Instruction previous = default, beforePrevious = default;
            var steps = t.Steps.AsSpan();
            for (int i = 0; i < steps.Length; i++)
            {
                ulong e = steps[i];
                if (StepMarker.IsMarker(e))
                {
                    if (StepMarker.KindOf(e) == StepMarker.Kind.Exec) space = (int)StepMarker.ArgumentOf(e);
                    havePrevious = false;
                    continue;
                }
                var region = RegionAt(rec, space, e);
                Assert.True(region != null, $"pid {t.Pid} tid {t.Tid} step {i}: {e:x} is in no captured executable mapping");
                var decoder = Decoder.Create(64, new ByteArrayCodeReader(region!.Bytes, (int)(e - region.Start), region.Bytes.Length - (int)(e - region.Start)));
                decoder.IP = e;
                decoder.Decode(out var instruction);
                Assert.False(instruction.IsInvalid, $"pid {t.Pid} tid {t.Tid} step {i}: no valid instruction at {e:x} ({region.Path})");
                if (havePrevious && !IsSigreturn(beforePrevious, previous)) AssertCanFollow(previous, e, t, i);
                beforePrevious = previous;
                previous = instruction;
                havePrevious = true;
                checkedCount++;
            }
        }
        return checkedCount;
    }

    /// <summary>glibc's __restore_rt: mov $15 (rt_sigreturn) to eax/rax, syscall; it resumes wherever the signal interrupted.</summary>
    private static bool IsSigreturn(in Instruction before, in Instruction syscall) =>
        syscall.Mnemonic == Mnemonic.Syscall && before.Mnemonic == Mnemonic.Mov && before.Op0Kind == OpKind.Register &&
        before.Op0Register is Register.EAX or Register.RAX &&
        before.Op1Kind is OpKind.Immediate32 or OpKind.Immediate32to64 && before.GetImmediate(1) == 15 && before.NextIP == syscall.IP;

    private static void AssertCanFollow(in Instruction from, ulong to, ThreadExecution t, int index)
    {
        ulong next = from.NextIP;
        bool ok = from.Mnemonic is Mnemonic.Syscall
            ? to == next || to == from.IP
            : from.FlowControl switch
            {
                FlowControl.Next or FlowControl.Interrupt => to == next,
                FlowControl.UnconditionalBranch or FlowControl.Call => to == from.NearBranchTarget,
                FlowControl.ConditionalBranch => to == from.NearBranchTarget || to == next,
                _ => true,   // returns, indirect jumps and calls, exceptions: any target
            };
        Assert.True(ok, $"pid {t.Pid} tid {t.Tid} step {index}: {to:x} cannot follow {from.IP:x} {from}");
    }

    /// <summary>The recording's clock and sideband are consistent: per thread, instructions strictly later than the one before, markers never earlier; sideband in time order.</summary>
    public static void CheckTime(ExecutionRecording rec)
    {
        foreach (var t in rec.Threads)
        {
            var steps = t.Steps.AsSpan();
            long last = long.MinValue, lastInstruction = long.MinValue;
            for (int i = 0; i < steps.Length; i++)
            {
                long time = t.TimeOf(i);
                Assert.True(time >= last, $"tid {t.Tid}: entry {i} at {time} is before entry {i - 1} at {last}");
                if (!StepMarker.IsMarker(steps[i]))
                {
                    Assert.True(time > lastInstruction, $"tid {t.Tid}: instruction {i} at {time} is not after the previous one at {lastInstruction}");
                    lastInstruction = time;
                }
                last = time;
            }
        }
        for (int i = 1; i < rec.Sideband.Count; i++)
            Assert.True(rec.Sideband[i].Time >= rec.Sideband[i - 1].Time, $"sideband {i} ({rec.Sideband[i].Kind}) is earlier than the event before it");
    }
}
