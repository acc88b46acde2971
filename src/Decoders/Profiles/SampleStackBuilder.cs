using DotnetPtrace.Decoders.Abi;
using DotnetPtrace.Decoders.PerfData.Reading;
using DotnetPtrace.Decoders.Symbols;

namespace DotnetPtrace.Decoders.Profiles;

/// <summary>
/// Turns perf samples into stacks of frame names for a <see cref="StackProfile"/>: the process name at the root
/// (as stackcollapse-perf.pl does), then the callchain outermost first. With a callchain the stack is its
/// entries (the kernel puts the sample's ip first, so it is the leaf; PERF_CONTEXT_* markers only switch between
/// kernel and user frames); without one it is the sample's ip alone. Names are cached per address, so a sample
/// allocates nothing once its addresses have been seen.
/// </summary>
public sealed class SampleStackBuilder(SymbolResolver symbols)
{
    /// <summary>Callchain values at or above this are PERF_CONTEXT_* markers, not addresses.</summary>
    private const ulong ContextMax = unchecked((ulong)-4095);
    private const ulong ContextKernel = unchecked((ulong)-128);
    private const ulong ContextUser = unchecked((ulong)-512);

    private readonly Dictionary<(int Pid, ulong Ip), (int Generation, string Name)> _userNames = [];
    private readonly Dictionary<ulong, string> _kernelNames = [];
    private readonly Dictionary<string, string> _processNames = new(StringComparer.Ordinal);
    private string[] _frames = new string[128];

    /// <summary>Adds <paramref name="sample"/> of a thread named <paramref name="comm"/> to <paramref name="profile"/>.</summary>
    public void Add(StackProfile profile, in PerfSample sample, string comm, ulong weight)
    {
        ArgumentNullException.ThrowIfNull(profile);
        int count = 0;
        int pid = (int)sample.Pid;
        bool kernel = sample.CpuMode == PerfRecordMisc.Kernel;
        if (sample.Has(SampleType.Callchain) && sample.Callchain.Length > 0)
        {
            foreach (ulong ip in sample.Callchain)
            {
                if (ip >= ContextMax) { kernel = ip == ContextKernel || (ip != ContextUser && kernel); continue; }
                Push(ref count, FrameName(pid, ip, kernel));
            }
        }
        if (count == 0) Push(ref count, FrameName(pid, sample.Ip, kernel));
        if (!_processNames.TryGetValue(comm, out string? process)) _processNames[comm] = process = FrameNames.Process(comm);
        Push(ref count, process);
        profile.AddLeafFirst(_frames.AsSpan(0, count), weight);
    }

    private void Push(ref int count, string frame)
    {
        if (count == _frames.Length) Array.Resize(ref _frames, _frames.Length * 2);
        _frames[count++] = frame;
    }

    private string FrameName(int pid, ulong ip, bool kernel)
    {
        if (kernel)
        {
            if (!_kernelNames.TryGetValue(ip, out string? k))
            {
                ResolvedSymbol ks = symbols.Resolve(pid, ip, kernel: true);
                _kernelNames[ip] = k = FrameNames.Frame(ks.Name, ks.Dso);
            }
            return k;
        }
        // A process's mappings change (exec, dlopen, munmap): the cached name holds only for the same generation.
        int generation = symbols.MapGeneration(pid);
        if (_userNames.TryGetValue((pid, ip), out var cached) && cached.Generation == generation) return cached.Name;
        ResolvedSymbol s = symbols.Resolve(pid, ip, kernel: false);
        string name = FrameNames.Frame(s.Name, s.Dso);
        _userNames[(pid, ip)] = (generation, name);
        return name;
    }
}
