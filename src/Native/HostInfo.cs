using System.Runtime.InteropServices;
using System.Text;
using DotnetPtrace.Native.Interop;

namespace DotnetPtrace.Native;

/// <summary>What perf.data's header features say about the machine that recorded it (uname, /proc, /sys).</summary>
public sealed record HostInfo(string Hostname, string OsRelease, string Arch, int CpusOnline, int CpusAvailable,
    string CpuDescription, string CpuId, ulong TotalMemKb)
{
    public static unsafe HostInfo Collect()
    {
        // struct utsname: six fields of 65 bytes each on Linux (sysname, nodename, release, version, machine, domainname).
        const int field = 65;
        byte* buf = stackalloc byte[field * 6];
        string hostname = "", release = "", machine = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        if (Sys.Uname(buf) == 0)
        {
            hostname = Field(buf, 1);
            release = Field(buf, 2);
            machine = Field(buf, 4);
        }
        var (desc, cpuid) = ReadCpuInfo();
        return new HostInfo(hostname, release, machine, OnlineCpuCount(), Environment.ProcessorCount, desc, cpuid, ReadMemTotalKb());

        static string Field(byte* b, int i) => Marshal.PtrToStringUTF8((nint)(b + i * field)) ?? "";
    }

    private static int OnlineCpuCount()
    {
        try { return Events.CpuList.Online().Count; }
        catch (Exception e) when (e is IOException or Events.CpuListException) { return Environment.ProcessorCount; }
    }

    /// <summary>perf's x86 cpuid string is "vendor,family,model,stepping" (arch/x86/util/header.c).</summary>
    private static (string Description, string CpuId) ReadCpuInfo()
    {
        string vendor = "", model = "", family = "", modelNo = "", stepping = "";
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.Length == 0) break;   // first processor only
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                switch (key)
                {
                    case "vendor_id": vendor = value; break;
                    case "model name": model = value; break;
                    case "cpu family": family = value; break;
                    case "model": modelNo = value; break;
                    case "stepping": stepping = value; break;
                }
            }
        }
        catch (IOException) { }
        string cpuid = vendor.Length > 0 ? $"{vendor},{family},{modelNo},{stepping}" : "";
        return (model, cpuid);
    }

    private static ulong ReadMemTotalKb()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                    return ulong.Parse(line["MemTotal:".Length..].Replace("kB", "").Trim());
        }
        catch (Exception e) when (e is IOException or FormatException) { }
        return 0;
    }

    /// <summary>The running kernel's build-id, from the note list it exports (null when unreadable).</summary>
    public static byte[]? KernelNotes()
    {
        try { return File.ReadAllBytes("/sys/kernel/notes"); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
