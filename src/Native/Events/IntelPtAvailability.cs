namespace DotnetPtrace.Native.Events;

/// <summary>
/// Says why a machine has no intel_pt PMU, from /proc/cpuinfo, and what works instead: the one question every user
/// without Intel PT asks (AMD parts, most VMs, old or disabled CPUs, kernels without the driver).
/// </summary>
public static class IntelPtAvailability
{
    public const string Alternatives = "record --soft-pt -- CMD gives the exact Intel PT trace of a small command by single-stepping it, and sampling works here (e.g. -e cpu-clock -g)";

    public static string WhyMissing(string cpuinfoPath = "/proc/cpuinfo")
    {
        string vendor = "", flags = "";
        try
        {
            foreach (string line in File.ReadLines(cpuinfoPath))
            {
                if (line.Length == 0) break;   // the first CPU describes them all
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim();
                if (key == "vendor_id") vendor = line[(colon + 1)..].Trim();
                else if (key == "flags") flags = " " + line[(colon + 1)..].Trim() + " ";
            }
        }
        catch (IOException) { return "this machine has no intel_pt PMU"; }

        bool intel = vendor == "GenuineIntel";
        bool hypervisor = flags.Contains(" hypervisor ");
        bool ptFlag = flags.Contains(" intel_pt ");
        string why = vendor switch
        {
            _ when !intel && vendor.Length > 0 => $"the CPU is made by {Vendor(vendor)}, and Intel PT exists only on Intel processors",
            _ when intel && hypervisor && !ptFlag => "this is a virtual machine whose hypervisor does not pass Intel PT through",
            _ when intel && !ptFlag => "this Intel CPU does not report Intel PT (too old, or disabled by firmware or the kernel command line)",
            _ when intel && ptFlag => "the CPU has Intel PT but the kernel has no intel_pt PMU (built without CONFIG_PERF_EVENTS_INTEL_PT?)",
            _ => "this machine has no intel_pt PMU",
        };
        return $"{why}; {Alternatives}";
    }

    private static string Vendor(string vendorId) => vendorId switch
    {
        "AuthenticAMD" => "AMD",
        "HygonGenuine" => "Hygon",
        "CentaurHauls" => "Centaur",
        _ => vendorId,
    };
}
