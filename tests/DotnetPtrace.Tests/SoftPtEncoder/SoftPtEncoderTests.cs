using System.Buffers;
using System.Diagnostics;
using DotnetPtrace.Decoders.IntelPt;
using DotnetPtrace.Decoders.SoftPt;
using DotnetPtrace.Tests.IntelPt;
using Xunit.Abstractions;
using static DotnetPtrace.Tests.SoftPtEncoder.SoftPtTestSupport;

namespace DotnetPtrace.Tests.SoftPtEncoder;

/// <summary>
/// The encoder's other paths, each judged by libipt (or libipt's packet decoder) on real single-stepped runs: an
/// exec into another image, code that was not captured, branch tracing off; that the oracle notices a wrong bit;
/// bad recordings; no allocation per instruction; throughput.
/// </summary>
public sealed class SoftPtEncoderTests(ITestOutputHelper output)
{
    private bool Skip()
    {
        if (MissingPrerequisite() is not { } missing) return false;
        output.WriteLine($"skipped: {missing}");
        return true;
    }

    [Fact]
    public void An_exec_switches_the_image_and_tracing_resumes_in_the_new_one()
    {
        if (Skip()) return;
        // The first program's last system call (exit_group) stands for the execve: both are kernel entries after
        // which user mode resumes somewhere else; the second program is linked elsewhere so one image holds both.
        var first = SoftPtTestSupport.Record("softpt_program_high");
        var second = SoftPtTestSupport.Record("softpt_program");
        var recording = new ExecutionRecording();
        var a = new AddressSpace { Id = 1, Pid = 1 };
        var b = new AddressSpace { Id = 2, Pid = 1 };
        a.Regions.AddRange(first.Recording.AddressSpaces[0].Regions);
        b.Regions.AddRange(second.Recording.AddressSpaces[0].Regions);
        recording.AddressSpaces.AddRange([a, b]);
        var thread = new ThreadExecution { Pid = 1, Tid = 1, AddressSpaceId = 1 };
        foreach (ulong s in first.Thread.Steps.AsSpan())
            if (!(StepMarker.IsMarker(s) && StepMarker.KindOf(s) == StepMarker.Kind.Exit)) thread.Steps.Add(s);
        thread.Steps.Add(StepMarker.Make(StepMarker.Kind.Exec, 2));
        foreach (ulong s in second.Thread.Steps.AsSpan()) thread.Steps.Add(s);
        recording.Threads.Add(thread);

        var options = new SoftPtOptions { PsbPeriod = 0, Cyc = true };
        var buffer = new ArrayBufferWriter<byte>();
        var stats = new Decoders.SoftPt.SoftPtEncoder(options).Encode(recording, thread, buffer);
        // Each run's vDSO was mapped at its own address; the code is the same, whichever libipt picks where they overlap.
        var decoded = DecodeWithLibipt(first.Regions.Concat(second.Regions), buffer.WrittenSpan.ToArray(), options, "exec");
        Assert.Empty(decoded.Errors);
        AssertSameAddresses([.. first.Instructions, .. second.Instructions], decoded.Instructions.Select(i => i.Ip).ToList(), "exec");
        Assert.Contains(decoded.Events, e => e == $"enabled {second.Instructions[0]:x}");
        output.WriteLine(stats.ToString());
    }

    [Fact]
    public void Code_that_was_not_captured_is_left_out_and_the_rest_decodes()
    {
        if (Skip()) return;
        var run = SoftPtTestSupport.Record("softpt_libc");
        var vdso = run.Recording.AddressSpaces[0].Regions.Single(r => r.Path == "[vdso]");
        var withoutVdso = new ExecutionRecording();
        var space = new AddressSpace { Id = 1, Pid = 1 };
        space.Regions.AddRange(run.Recording.AddressSpaces[0].Regions.Where(r => r != vdso));
        withoutVdso.AddressSpaces.Add(space);
        withoutVdso.Threads.Add(run.Thread);

        var options = new SoftPtOptions();
        var buffer = new ArrayBufferWriter<byte>();
        var stats = new Decoders.SoftPt.SoftPtEncoder(options).Encode(withoutVdso, run.Thread, buffer);
        ulong[] inVdso = run.Instructions.Where(ip => ip >= vdso.Start && ip < vdso.End).ToArray();
        Assert.NotEmpty(inVdso); // clock_gettime ran in the vDSO
        Assert.Equal(inVdso.Length, stats.UndecodableSteps);

        var decoded = DecodeWithLibipt(run.Regions.Where(r => r.Start != vdso.Start), buffer.WrittenSpan.ToArray(), options, "novdso");
        Assert.Empty(decoded.Errors);
        AssertSameAddresses(run.Instructions.Where(ip => ip < vdso.Start || ip >= vdso.End).ToArray(),
            decoded.Instructions.Select(i => i.Ip).ToList(), "without the vDSO");
    }

    [Fact]
    public void Branch_off_sends_psb_timing_and_the_kernel_entries_only()
    {
        if (Skip()) return;
        var run = SoftPtTestSupport.Record("softpt_program");
        var (pt, stats) = Encode(run, new SoftPtOptions { Branch = false, PsbPeriod = 0 });
        string file = Path.Combine(Path.GetTempPath(), $"softpt-nobranch-{Environment.ProcessId}.pt");
        File.WriteAllBytes(file, pt);
        try
        {
            string[] packets = PtTestSupport.LibiptDump(file);
            Assert.DoesNotContain(packets, p => p.Contains(" error ", StringComparison.Ordinal));
            string[] kinds = packets.Select(p => p.Split(' ') is { Length: > 2 } f ? f[2] : "").ToArray();
            Assert.DoesNotContain("tnt8", kinds);
            Assert.DoesNotContain("tip", kinds);
            Assert.Equal(stats.KernelEntries + stats.AsynchronousExits, kinds.Count(k => k == "tip.pgd"));
            Assert.Equal(kinds.Count(k => k == "tip.pgd") - 1, kinds.Count(k => k == "tip.pge"));
            Assert.Equal(kinds.Count(k => k == "psb"), kinds.Count(k => k == "fup")); // FUPs only in PSB+
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_oracle_notices_one_wrong_branch_bit()
    {
        if (Skip()) return;
        var run = SoftPtTestSupport.Record("softpt_program");
        var options = new SoftPtOptions();
        var (pt, _) = Encode(run, options);
        // Flip the youngest bit of the 20th TNT-8 packet.
        var decoder = new PtPacketDecoder(pt);
        Assert.Equal(PtStatus.Ok, decoder.SyncForward());
        int seen = 0, offset = -1;
        while (offset < 0)
        {
            int at = decoder.Offset;
            Assert.Equal(PtStatus.Ok, decoder.Next(out PtPacket p));
            if (p.Kind == PtPacketKind.Tnt8 && ++seen == 20) offset = at;
        }
        pt[offset] ^= 0x02;
        var decoded = DecodeWithLibipt(run, pt, options, "flipped");
        Assert.True(decoded.Errors.Count > 0 || !decoded.Instructions.Select(i => i.Ip).SequenceEqual(run.Instructions),
            "libipt decoded a stream with a flipped branch bit to the ground truth");
    }

    [Fact]
    public void Bad_recordings_get_a_clear_error()
    {
        var recording = new ExecutionRecording();
        var space = new AddressSpace { Id = 1, Pid = 7 };
        space.Regions.Add(new CodeRegion { Start = 0x1000, Bytes = [0x90, 0x0f, 0x05, 0x90], Path = "//anon" }); // nop; syscall; nop
        recording.AddressSpaces.Add(space);
        var encoder = new Decoders.SoftPt.SoftPtEncoder(new SoftPtOptions());

        var unknownSpace = new ThreadExecution { Pid = 7, Tid = 8, AddressSpaceId = 1 };
        unknownSpace.Steps.Add(0x1000);
        unknownSpace.Steps.Add(0x1001);
        unknownSpace.Steps.Add(StepMarker.Make(StepMarker.Kind.Exec, 5));
        unknownSpace.Steps.Add(0x1000);
        var e = Assert.Throws<InvalidDataException>(() => encoder.Encode(recording, unknownSpace, new ArrayBufferWriter<byte>()));
        Assert.Equal("thread 8 execs at step 2 into address space 5, which the recording does not contain", e.Message);

        var backwards = new ThreadExecution { Pid = 7, Tid = 9, AddressSpaceId = 1 };
        backwards.Steps.Add(0x1000);
        backwards.Steps.Add(0x1001);
        backwards.Clock.Add((0, 100));
        backwards.Clock.Add((1, 50));
        e = Assert.Throws<InvalidDataException>(() => encoder.Encode(recording, backwards, new ArrayBufferWriter<byte>()));
        Assert.Contains("time goes backwards", e.Message);

        var missing = new ThreadExecution { Pid = 7, Tid = 10, AddressSpaceId = 3 };
        e = Assert.Throws<InvalidDataException>(() => encoder.Encode(recording, missing, new ArrayBufferWriter<byte>()));
        Assert.Equal("thread 10 starts in address space 3, which the recording does not contain", e.Message);

        // No instructions at all: no bytes, no error.
        var empty = new ThreadExecution { Pid = 7, Tid = 11, AddressSpaceId = 1 };
        empty.Steps.Add(StepMarker.Make(StepMarker.Kind.Exit, 0));
        var stats = encoder.Encode(recording, empty, new ArrayBufferWriter<byte>());
        Assert.Equal(0, stats.Bytes);
    }

    [Fact]
    public void Encoding_allocates_nothing_per_instruction()
    {
        if (Skip()) return;
        var run = SoftPtTestSupport.Record("softpt_libc");
        var encoder = new Decoders.SoftPt.SoftPtEncoder(new SoftPtOptions { Cyc = true, PsbPeriod = 0 });
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        encoder.Encode(run.Recording, run.Thread, buffer); // classifies every distinct instruction once
        buffer.ResetWrittenCount();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var stats = encoder.Encode(run.Recording, run.Thread, buffer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"{allocated} bytes allocated encoding {stats.Instructions} instructions");
        Assert.True(allocated < 4096, $"{allocated} bytes allocated for {stats.Instructions} instructions");
    }

    [Fact]
    public void Throughput()
    {
        if (Skip()) return;
        var run = SoftPtTestSupport.Record("softpt_libc");
        var encoder = new Decoders.SoftPt.SoftPtEncoder(new SoftPtOptions());
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        encoder.Encode(run.Recording, run.Thread, buffer);
        long instructions = 0;
        var watch = Stopwatch.StartNew();
        while (watch.ElapsedMilliseconds < 1000)
        {
            buffer.ResetWrittenCount();
            instructions += encoder.Encode(run.Recording, run.Thread, buffer).Instructions;
        }
        double rate = instructions / watch.Elapsed.TotalSeconds;
        output.WriteLine($"{rate / 1e6:F1} million instructions per second ({instructions} in {watch.Elapsed.TotalSeconds:F2} s, " +
            $"{buffer.WrittenCount * 1e6 / run.Instructions.Length:F0} bytes per million instructions)");
        Assert.True(rate > 1e6, $"only {rate:F0} instructions per second");
    }
}
