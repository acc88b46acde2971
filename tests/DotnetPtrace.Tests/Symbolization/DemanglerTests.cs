using DotnetPtrace.Native;
using DotnetPtrace.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DotnetPtrace.Tests.Symbolization;

/// <summary>
/// C++ names come out as perf prints them (demangled, no parameters). The oracle is binutils' `c++filt -p`
/// ("do not display the function parameters"), over every mangled dynamic symbol of libstdc++ and gcc's cc1.
/// c++filt also sets DMGL_VERBOSE, which spells out the standard substitutions perf (and __cxa_demangle) abbreviate
/// ("std::string" for Ss); those four spellings are folded back, and nothing else is normalized.
/// </summary>
public sealed class DemanglerTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")]
    [InlineData("/usr/lib/gcc/x86_64-linux-gnu/12/cc1")]
    public void Names_equal_cxxfilt_without_parameters(string library)
    {
        if (!File.Exists(library)) { log.WriteLine($"skipped: {library} is not on this machine"); return; }
        var nm = ProcessRunner.Run("nm", ["-D", "--defined-only", library], TimeSpan.FromSeconds(60));
        string[] mangled = nm.Stdout.Split('\n').Select(l => l.Split(' ')).Where(p => p.Length == 3 && p[2].StartsWith("_Z", StringComparison.Ordinal))
            .Select(p => p[2]).Distinct().ToArray();
        Assert.True(mangled.Length > 1000, $"only {mangled.Length} C++ symbols in {library}");
        string input = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(input, mangled);
            var filt = ProcessRunner.Run("bash", ["-c", $"c++filt -p < '{input}'"], TimeSpan.FromSeconds(60));
            string[] expected = filt.Stdout.Split('\n')[..mangled.Length].Select(Abbreviated).ToArray();
            var differences = mangled.Select((m, i) => (m, Expected: expected[i], Actual: CxxDemangler.Demangle(m) ?? m))
                .Where(x => x.Expected != x.Actual).ToList();
            foreach (var d in differences.Take(20)) log.WriteLine($"{d.m}\n  c++filt: {d.Expected}\n  ours:    {d.Actual}");
            Assert.Empty(differences);
        }
        finally { File.Delete(input); }
    }

    /// <summary>
    /// Non-verbose cp-demangle prints the standard substitutions short, except as the class of their own
    /// constructor or destructor, and then needs no space before a closing '>'.
    /// </summary>
    private static string Abbreviated(string verbose)
    {
        foreach (var (full, brief) in new[]
        {
            ("std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"),
            ("std::basic_istream<char, std::char_traits<char> >", "std::istream"),
            ("std::basic_ostream<char, std::char_traits<char> >", "std::ostream"),
            ("std::basic_iostream<char, std::char_traits<char> >", "std::iostream"),
        })
            verbose = System.Text.RegularExpressions.Regex.Replace(verbose, System.Text.RegularExpressions.Regex.Escape(full) + @"(?!::~?basic_)( (?=>))?", brief);
        return verbose;
    }
}
