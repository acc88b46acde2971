namespace DotnetPtrace.Native.Events;

/// <summary>
/// "Did you mean" for error messages: the known names within a few edits of what was typed. Uses the optimal string
/// alignment distance (Levenshtein plus swapping two neighbours), because swapped letters are the commonest typo
/// ("cpu-clokc").
/// </summary>
internal static class CloseMatches
{
    /// <summary>Up to <paramref name="max"/> candidates, closest first, ignoring case.</summary>
    public static IReadOnlyList<string> Find(string typed, IEnumerable<string> candidates, int max = 5)
    {
        // A third of the length, between 1 and 3: short names tolerate one slip, long ones a few,
        // and nothing so loose that every name matches.
        int limit = Math.Clamp(typed.Length / 3, 1, 3);
        return candidates
            .Distinct(StringComparer.Ordinal)
            .Select(c => (Name: c, Distance: Distance(typed.ToLowerInvariant(), c.ToLowerInvariant())))
            .Where(c => c.Distance <= limit)
            .OrderBy(c => c.Distance)
            .ThenBy(c => c.Name, StringComparer.Ordinal)
            .Take(max)
            .Select(c => c.Name)
            .ToList();
    }

    /// <summary>" (did you mean a, b?)", or an empty string when nothing is close.</summary>
    public static string DidYouMean(string typed, IEnumerable<string> candidates)
    {
        var matches = Find(typed, candidates);
        return matches.Count == 0 ? "" : $" (did you mean {string.Join(", ", matches)}?)";
    }

    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }

        return d[a.Length, b.Length];
    }
}
