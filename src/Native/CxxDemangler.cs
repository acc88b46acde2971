using System.Runtime.InteropServices;

namespace DotnetPtrace.Native;

/// <summary>
/// C++ names as perf prints them: demangled without parameter lists (perf 6.1 demangles with DMGL_NO_OPTS unless
/// verbose), e.g. <c>_Z19ht_lookup_with_hashP2htPKhmj16ht_lookup_option</c> becomes <c>ht_lookup_with_hash</c>.
/// The demangling itself is libstdc++'s <c>__cxa_demangle</c> (the .NET runtime links libstdc++, so it is always
/// there); this class only cuts the parameters, qualifiers and template return type off its output.
/// </summary>
public static partial class CxxDemangler
{
    [LibraryImport("libstdc++.so.6", EntryPoint = "__cxa_demangle", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint CxaDemangle(string mangled, nint outputBuffer, nint length, out int status);

    /// <summary>The name without parameters, or null when <paramref name="symbol"/> is not a mangled C++ name.</summary>
    public static string? Demangle(string symbol)
    {
        if (!symbol.StartsWith("_Z", StringComparison.Ordinal)) return null;
        // Versioned dynamic symbols (name@@GLIBCXX_3.4) keep their version after the demangled name.
        int at = symbol.IndexOf('@');
        string mangled = at < 0 ? symbol : symbol[..at];
        nint result;
        int status;
        try
        {
            result = CxaDemangle(mangled, 0, 0, out status);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        if (status != 0 || result == 0) return null;
        try
        {
            string full = Marshal.PtrToStringUTF8(result) ?? "";
            // Clones and thunks keep their parameters in libiberty's output even without DMGL_PARAMS.
            // So do the special names of data (typeinfo, vtables, guard variables), which are not functions.
            bool special = SpecialPrefixes.Any(p => full.StartsWith(p, StringComparison.Ordinal));
            return (special ? full : WithoutParameters(full)) + (at < 0 ? "" : symbol[at..]);
        }
        finally { Marshal.FreeHGlobal(result); }   // __cxa_demangle mallocs; FreeHGlobal is free() on Unix
    }

    /// <summary>
    /// "ret ns::f&lt;T&gt;(args) const" → "ns::f&lt;T&gt;". The parameter list is the last balanced (...) group
    /// after which only qualifiers follow; a return type exists only for template functions and is what precedes
    /// the last space outside brackets.
    /// </summary>
    public static string WithoutParameters(string demangled)
    {
        string s = demangled;
        int end = s.Length;
        // Trailing qualifiers of member functions and ref-qualifiers.
        while (true)
        {
            string trimmed = s[..end].TrimEnd();
            string? q = new[] { " const", " volatile", " &&", " &", " noexcept", " transaction_safe" }.FirstOrDefault(x => trimmed.EndsWith(x, StringComparison.Ordinal));
            if (q is null) { end = trimmed.Length; break; }
            end = trimmed.Length - q.Length;
        }
        if (end == 0 || s[end - 1] != ')') return demangled;   // not a function: a variable, a vtable, a guard
        int depth = 0, open = -1;
        for (int i = end - 1; i >= 0; i--)
        {
            if (s[i] == ')') depth++;
            else if (s[i] == '(' && --depth == 0) { open = i; break; }
        }
        if (open <= 0) return demangled;
        string name = s[..open];
        // A template function's return type: "void f<int>", "std::vector<int, std::allocator<int> > g<int>".
        if (name.EndsWith('>') && !name.EndsWith("operator>", StringComparison.Ordinal) && !name.EndsWith("operator>>", StringComparison.Ordinal)
            && !name.EndsWith("operator->", StringComparison.Ordinal))
        {
            char[] masked = MaskOperatorSymbols(name);
            int brackets = 0;
            for (int i = name.Length - 1; i >= 0; i--)
            {
                char c = masked[i];
                if (c is '>' or ')' or ']' or '}') brackets++;
                else if (c is '<' or '(' or '[' or '{') brackets--;
                else if (c == ' ' && brackets == 0)
                {
                    // The word before the space may be an operator ("operator<< <char>", "operator std::string_view<..>"):
                    // then the space is part of the name; step over that word, whose symbols are not brackets.
                    int wordStart = name.LastIndexOfAny([' ', ':'], i - 1) + 1;
                    if (name.AsSpan(wordStart, i - wordStart).StartsWith("operator", StringComparison.Ordinal)) { i = wordStart; continue; }
                    name = name[(i + 1)..];
                    break;
                }
            }
        }
        return name;
    }

    private static readonly string[] SpecialPrefixes =
    [
        "transaction clone for ", "non-virtual thunk to ", "virtual thunk to ", "covariant return thunk to ", "typeinfo for ",
        "typeinfo name for ", "typeinfo fn for ", "vtable for ", "VTT for ", "construction vtable for ", "guard variable for ",
        "TLS init function for ", "TLS wrapper function for ", "reference temporary #", "hidden alias for ", "java Class for ",
    ];

    private static readonly string[] OperatorSymbols = ["<=>", "<<=", ">>=", "->*", "<<", ">>", "<=", ">=", "->", "()", "[]", "<", ">"];

    /// <summary>A copy of the name with the symbols of "operator&lt;&lt;" and the like blanked, so they do not count as brackets.</summary>
    private static char[] MaskOperatorSymbols(string name)
    {
        char[] masked = name.ToCharArray();
        for (int k = name.IndexOf("operator", StringComparison.Ordinal); k >= 0; k = name.IndexOf("operator", k + 8, StringComparison.Ordinal))
        {
            int at = k + 8;
            string? symbol = OperatorSymbols.FirstOrDefault(o => name.AsSpan(at).StartsWith(o, StringComparison.Ordinal));
            if (symbol is not null) masked.AsSpan(at, symbol.Length).Fill('x');
        }
        return masked;
    }
}
