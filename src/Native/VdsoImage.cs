namespace DotnetPtrace.Native;

/// <summary>
/// The vDSO's ELF image as mapped into this process. The kernel maps the same vDSO into every process, so it
/// symbolises [vdso] samples of recordings made on this kernel, as perf does with its own copy.
/// </summary>
public static class VdsoImage
{
    public static byte[]? ReadOwn()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                if (!line.EndsWith("[vdso]", StringComparison.Ordinal) || !MapsLine.TryParse(line, out var map)) continue;
                var image = new byte[map.End - map.Start];
                using var mem = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
                mem.Seek((long)map.Start, SeekOrigin.Begin);
                mem.ReadExactly(image);
                return image;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }
}
