using DotnetPtrace.Decoders.Symbols;

namespace DotnetPtrace.Tests.Symbolization;

/// <summary>
/// Kernel addresses resolve as perf resolves them: a symbol runs to the next address, and of aliases at one
/// address the last listed wins (perf sizes symbols before removing duplicates, so only it has a length). The
/// lines are this kernel's /proc/kallsyms around memcpy and sched_yield, where perf 6.1 prints __pi_memcpy and
/// __x64_sys_sched_yield; the live system-wide script test compares whole outputs with perf.
/// </summary>
public sealed class KallsymsTests : IDisposable
{
    private readonly string _path = Path.GetTempFileName();
    public void Dispose() => File.Delete(_path);

    [Fact]
    public void Aliases_resolve_to_the_last_listed_and_symbols_run_to_the_next_address()
    {
        File.WriteAllLines(_path,
        [
            "ffffffff813cd140 t __pfx___do_sys_sched_yield",
            "ffffffff813cd140 T __pfx___x64_sys_sched_yield",
            "ffffffff813cd150 t __do_sys_sched_yield",
            "ffffffff813cd150 T __ia32_sys_sched_yield",
            "ffffffff813cd150 T __x64_sys_sched_yield",
            "ffffffff821f4310 T __pfx_memcpy",
            "ffffffff821f4320 T memcpy",
            "ffffffff821f4320 T __memcpy",
            "ffffffff821f4320 T __pi_memcpy",
            "ffffffff821f4330 t __pfx_memcpy_orig",
            "ffffffff821f4400 d some_data",
        ]);
        var table = AddressSymbolTable.TryLoadKallsyms(_path)!;
        Assert.True(table.TryFind(0xffffffff821f432a, out string name, out ulong offset));
        Assert.Equal(("__pi_memcpy", 0xaUL), (name, offset));
        Assert.True(table.TryFind(0xffffffff813cd15c, out name, out offset));
        Assert.Equal(("__x64_sys_sched_yield", 0xcUL), (name, offset));
        Assert.True(table.TryFind(0xffffffff821f4330, out name, out _));
        Assert.Equal("__pfx_memcpy_orig", name);
    }
}
