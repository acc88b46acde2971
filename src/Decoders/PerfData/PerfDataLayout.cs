namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Where the parts of a perf.data go around its records. <see cref="PerfDataWriter"/> owns the bookkeeping (data
/// size, the first write error, dropped bytes); a layout owns the bytes before the first record and after the last:
/// <see cref="PerfDataFileLayout"/> (a header rewritten at the end, the feature table after the data) or
/// <see cref="PerfDataPipeLayout"/> (a 16-byte header and everything else as records, because nothing can seek back).
/// Both encode features with <see cref="FeatureEncoder"/>.
/// </summary>
internal abstract class PerfDataLayout
{
    /// <summary>Bytes written before the first record.</summary>
    public abstract long DataOffset { get; }

    /// <summary>Bytes written after the last record by <see cref="Finish"/>.</summary>
    public long TrailerBytes { get; protected set; }

    /// <summary>Writes whole records that start <paramref name="dataSize"/> bytes into the data. Throws IOException.</summary>
    public abstract void WriteRecords(ReadOnlySpan<byte> records, long dataSize);

    /// <summary>
    /// Ends the output after <paramref name="dataSize"/> bytes of records. <paramref name="dataFailed"/> says an
    /// earlier write failed. Returns whether the features were written; a write error goes to <paramref name="error"/>.
    /// Throws only when the output cannot be left readable at all.
    /// </summary>
    public abstract bool Finish(PerfDataFeatures features, long dataSize, bool dataFailed, ref Exception? error);
}
