namespace DotnetPtrace.Cli.Progress;

/// <summary>
/// How far each of several parallel workers is (bytes), one counter each, summed by the progress line when it redraws.
/// Each counter has a cache line of its own, so workers on different CPUs never write the same line.
/// </summary>
public sealed class ProgressCounters(int count)
{
    private const int Stride = 64 / sizeof(long);
    private readonly long[] _values = new long[Math.Max(1, count) * Stride];

    public int Count { get; } = count;

    public void Set(int index, long bytes) => Volatile.Write(ref _values[index * Stride], bytes);

    public long Sum()
    {
        long sum = 0;
        for (int i = 0; i < Count; i++) sum += Volatile.Read(ref _values[i * Stride]);
        return sum;
    }
}
