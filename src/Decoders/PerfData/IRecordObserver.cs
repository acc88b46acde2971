using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Sees every record written to a perf.data file, on the writer's thread, after the record reached the file
/// writer. <paramref name="record"/> starts with the header and is <c>header.Size</c> bytes long (for AUXTRACE,
/// whose header does not count its payload, the AUX bytes that follow are not included). Implementations must be
/// quick and allocation-free per record: they run for every record of the recording.
/// </summary>
public interface IRecordObserver
{
    void OnRecord(in PerfEventHeader header, ReadOnlySpan<byte> record);
}
