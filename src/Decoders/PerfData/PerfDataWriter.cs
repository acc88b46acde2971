using DotnetPtrace.Decoders.Abi;

namespace DotnetPtrace.Decoders.PerfData;

/// <summary>
/// Writes a perf.data that Linux perf reads, in one of two layouts sharing the record and feature encoding:
/// file mode (the constructors: a seekable file, header and feature section finished at the end, see
/// <see cref="PerfDataFileLayout"/>) or pipe mode (<see cref="CreatePipe(Stream, IReadOnlyList{EventAttrEntry}, PerfDataFeatures)"/>:
/// a stream such as stdout, everything as records, see <see cref="PerfDataPipeLayout"/>).
/// <para>
/// Records are appended with <see cref="WriteData"/>; the first write error (disk full, the reader of a pipe gone)
/// is kept in <see cref="WriteError"/> and later data is counted as dropped, so the hot path never throws.
/// <see cref="Finish"/> ends the output. The writer does not own the stream: dispose it afterwards.
/// Not thread-safe: one thread writes (see <see cref="BackgroundPerfDataWriter"/>).
/// </para>
/// </summary>
public sealed class PerfDataWriter
{
    /// <summary>EPIPE on Linux: the HResult .NET gives the IOException of a write to a pipe nobody reads.</summary>
    private const int BrokenPipeErrno = 32;

    private readonly PerfDataLayout _layout;
    private bool _finished;

    /// <summary>File mode. Writes the placeholder header, the id arrays and the attrs, choosing the attr size with
    /// <see cref="AttrBytes.ChooseOnFileSize"/> so that perf 6.1 reads the file.</summary>
    public PerfDataWriter(FileStream stream, IReadOnlyList<EventAttrEntry> attrs)
        : this(stream, attrs, AttrBytes.ChooseOnFileSize(CheckAttrs(attrs)))
    {
    }

    /// <summary>As above with an explicit on-file attr size (a PERF_ATTR_SIZE_VERn), e.g. 136 for perf &gt;= 6.3.</summary>
    public PerfDataWriter(FileStream stream, IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Attrs = CheckAttrs(attrs);
        AttrSizeOnFile = attrSizeOnFile;
        _layout = new PerfDataFileLayout(stream, attrs, attrSizeOnFile);
    }

    private PerfDataWriter(Stream output, IReadOnlyList<EventAttrEntry> attrs, int attrSizeOnFile, PerfDataFeatures headerFeatures)
    {
        Attrs = attrs;
        AttrSizeOnFile = attrSizeOnFile;
        Exception? error = null;
        _layout = new PerfDataPipeLayout(output, attrs, attrSizeOnFile, headerFeatures, ref error);
        WriteError = error;
    }

    /// <summary>
    /// Pipe mode (`perf record -o -`) on a stream that need not seek, e.g. stdout. The stream header, the attrs and
    /// <paramref name="headerFeatures"/> are written now: in a pipe they must come before the records. What
    /// <see cref="Finish"/> is given later adds only the build-ids not sent yet. A failure to write the beginning
    /// (the reader already gone) is kept in <see cref="WriteError"/>, like any write error.
    /// </summary>
    public static PerfDataWriter CreatePipe(Stream output, IReadOnlyList<EventAttrEntry> attrs, PerfDataFeatures headerFeatures) =>
        CreatePipe(output, attrs, headerFeatures, AttrBytes.ChooseOnFileSize(CheckAttrs(attrs)));

    /// <summary>As above with an explicit attr size.</summary>
    public static PerfDataWriter CreatePipe(Stream output, IReadOnlyList<EventAttrEntry> attrs, PerfDataFeatures headerFeatures, int attrSizeOnFile)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(headerFeatures);
        return new PerfDataWriter(output, CheckAttrs(attrs), attrSizeOnFile, headerFeatures);
    }

    public IReadOnlyList<EventAttrEntry> Attrs { get; }
    /// <summary>Bytes per attr in the attrs section, HEADER_ATTR and EVENT_DESC (the attr's <c>size</c> field).</summary>
    public int AttrSizeOnFile { get; }
    /// <summary>True for a pipe-mode stream.</summary>
    public bool IsPipe => _layout is PerfDataPipeLayout;
    /// <summary>Offset of the first record: the file header, ids and attrs; in pipe mode also the attr and feature records.</summary>
    public long DataOffset => _layout.DataOffset;
    /// <summary>Bytes of records written so far: whole <see cref="WriteData"/> calls that fully reached the output.</summary>
    public long DataSize { get; private set; }
    /// <summary>Every byte written: before, in and after the data (the size of the file or stream).</summary>
    public long TotalBytes => DataOffset + DataSize + _layout.TrailerBytes;
    /// <summary>Record bytes refused after a write error (the writer stops writing data at the first error).</summary>
    public long DroppedBytes { get; private set; }
    /// <summary>The first write error (typically ENOSPC, or EPIPE for a pipe), data or features; null while all is well.</summary>
    public Exception? WriteError { get; private set; }
    /// <summary>The write error is EPIPE: the reader of the pipe went away (`| head`), not a failure of ours.</summary>
    public bool ReaderWentAway => WriteError is IOException { HResult: BrokenPipeErrno };
    /// <summary>Whether <see cref="Finish"/> managed to write the features (file) or the closing build-ids (pipe).</summary>
    public bool FeaturesWritten { get; private set; }

    /// <summary>
    /// Creates (or truncates) a file for a recording with mode 0600, as perf does: traces can hold secrets
    /// (addresses, command lines, memory contents). The stream is unbuffered; this writer does its own batching.
    /// </summary>
    public static FileStream CreateFile(string path)
    {
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.ReadWrite,
            Share = FileShare.Read,
            BufferSize = 0,
            UnixCreateMode = OwnerOnly,
        });
        // UnixCreateMode applies only to a new file; an existing one keeps its mode unless we set it.
        File.SetUnixFileMode(stream.SafeFileHandle, OwnerOnly);
        return stream;
    }

    /// <summary>PERF_RECORD_FINISHED_INIT: ends the records synthesized before tracing starts (perf writes it in both modes).</summary>
    public static byte[] FinishedInitRecord()
    {
        var record = new byte[PerfEventHeader.ByteSize];
        new PerfEventHeader(PerfRecordType.FinishedInit, 0, PerfEventHeader.ByteSize).Write(record);
        return record;
    }

    /// <summary>
    /// Appends whole records. After the first I/O error the bytes are counted in <see cref="DroppedBytes"/> and
    /// not written, so a full disk or a closed pipe never ends the recording with an exception on the hot path.
    /// </summary>
    public void WriteData(ReadOnlySpan<byte> wholeRecords)
    {
        if (_finished)
            throw new InvalidOperationException("The perf.data output is already finished.");
        if (wholeRecords.IsEmpty)
            return;
        if (WriteError is not null)
        {
            DroppedBytes += wholeRecords.Length;
            return;
        }
        try
        {
            _layout.WriteRecords(wholeRecords, DataSize);
            DataSize += wholeRecords.Length;
        }
        catch (IOException e)
        {
            // File mode: part of this call may be on disk; it lies past DataSize, so perf never sees it, and the
            // feature table written by Finish overwrites it. Pipe mode: the reader got a cut record, then EOF.
            WriteError = e;
            DroppedBytes += wholeRecords.Length;
        }
    }

    /// <summary>
    /// Ends the output: file mode writes the feature table and payloads after the data and rewrites the header (if
    /// the features cannot be written the header says "no features" and the file is still valid; throws only if even
    /// the header cannot be rewritten); pipe mode sends the build-ids not sent yet.
    /// </summary>
    public void Finish(PerfDataFeatures features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (_finished)
            throw new InvalidOperationException("The perf.data output is already finished.");
        _finished = true;
        Exception? error = WriteError;
        FeaturesWritten = _layout.Finish(features, DataSize, WriteError is not null, ref error);
        WriteError = error;
    }

    private static IReadOnlyList<EventAttrEntry> CheckAttrs(IReadOnlyList<EventAttrEntry> attrs)
    {
        ArgumentNullException.ThrowIfNull(attrs);
        if (attrs.Count == 0)
            throw new ArgumentException("A perf.data file needs at least one attr.", nameof(attrs));
        return attrs;
    }
}
