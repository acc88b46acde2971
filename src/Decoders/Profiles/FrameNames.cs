namespace DotnetPtrace.Decoders.Profiles;

/// <summary>
/// Frame names as stackcollapse-perf.pl (FlameGraph, run with --all) writes them, so our folded stacks merge with
/// and diff against theirs: a symbol without a name becomes its DSO's file name in brackets, kernel frames get an
/// "_[k]" suffix and perf-map (JIT) frames "_[j]", and names are tidied the way its tidy_generic does.
/// </summary>
public static class FrameNames
{
    public const string KernelSuffix = "_[k]";
    public const string JitSuffix = "_[j]";

    /// <summary>The frame for a resolved address: <paramref name="symbol"/> may be null (no symbol covers it).</summary>
    public static string Frame(string? symbol, string dso)
    {
        // The script means "[module]" here, but its regex takes the DSO from the last " (" of the line, so a DSO
        // like "/memfd:doublemapper (deleted)" (.NET's code) came out as "[unknown] "; we keep the whole module name.
        string name = symbol is not null ? Tidy(symbol)
            : dso.Length > 0 && dso != "[unknown]" ? "[" + Path.GetFileName(dso) + "]"
            : "[unknown]";
        // stackcollapse-perf.pl recognises kernel code by its DSO alone: "[kernel.kallsyms]", "[module]" (and so
        // also "[vdso]") or a vmlinux path, never one naming "unknown".
        if ((dso.StartsWith('[') || dso.EndsWith("vmlinux", StringComparison.Ordinal)) && !dso.Contains("unknown", StringComparison.Ordinal))
            return name + KernelSuffix;
        if (IsPerfMap(dso)) return name + JitSuffix;
        return name;
    }

    /// <summary>
    /// tidy_generic: ';' would split the frame, so it becomes ':'; everything from the first '(' on (C++ parameter
    /// lists, which make one function many frames) is dropped, except in Go method names like "pkg.(*T).M" and
    /// in "(anonymous namespace)"; quotes are removed.
    /// </summary>
    public static string Tidy(string name)
    {
        if (name.AsSpan().IndexOfAny(";(\"'") < 0) return name;
        string s = name.Replace(';', ':');
        if (!LooksLikeGoMethod(s))
        {
            int cut = FirstParenthesisNotAnonymousNamespace(s);
            if (cut >= 0) s = s[..cut];
        }
        return s.Replace("\"", "", StringComparison.Ordinal).Replace("'", "", StringComparison.Ordinal);
    }

    /// <summary>
    /// A thread's name as the root frame, as stackcollapse-perf.pl reads it from perf script's columns: trailing
    /// blanks are lost (a name cut to 15 characters often ends in one), inner spaces become underscores.
    /// </summary>
    public static string Process(string comm)
    {
        string trimmed = comm.TrimEnd();
        return trimmed.Contains(' ', StringComparison.Ordinal) ? trimmed.Replace(' ', '_') : trimmed;
    }

    private static bool IsPerfMap(string dso) =>
        dso.StartsWith("/tmp/perf-", StringComparison.Ordinal) && dso.EndsWith(".map", StringComparison.Ordinal);

    /// <summary>perl's m/\.\(.*\)\./: a '.(' followed later by ').'.</summary>
    private static bool LooksLikeGoMethod(string s)
    {
        int open = s.IndexOf(".(", StringComparison.Ordinal);
        return open >= 0 && s.IndexOf(").", open + 2, StringComparison.Ordinal) >= 0;
    }

    private static int FirstParenthesisNotAnonymousNamespace(string s)
    {
        for (int i = s.IndexOf('('); i >= 0; i = s.IndexOf('(', i + 1))
            if (!s.AsSpan(i).StartsWith("(anonymous namespace)", StringComparison.Ordinal)) return i;
        return -1;
    }
}
