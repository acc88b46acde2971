namespace DotnetPtrace.Native.Events;

/// <summary>Bits <see cref="Low"/> to <see cref="High"/> inclusive of a 64-bit config word.</summary>
public readonly record struct BitRange(int Low, int High)
{
    public int Width => High - Low + 1;

    /// <summary>Spelled as in sysfs: "5" for one bit, "14-17" for a run.</summary>
    public override string ToString() => Low == High ? $"{Low}" : $"{Low}-{High}";
}
