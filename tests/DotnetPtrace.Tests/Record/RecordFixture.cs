namespace DotnetPtrace.Tests.Record;

/// <summary>A scratch directory per test class for output files.</summary>
public sealed class ScratchDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("dotnet-ptrace-record-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
