using System.Globalization;

namespace DotnetPtrace.Native.Events.AddressFilters;

/// <summary>
/// perf's --filter syntax for address filters (tools/perf/util/auxtrace.c parse_one_filter, documented in
/// perf-record.txt): <c>ACTION START [/ END_OR_SIZE] [@ FILE]</c>, several filters separated by spaces or commas.
/// ACTION is filter, start, stop or tracestop. START and END are numbers (C syntax: 0x hex, leading 0 octal,
/// decimal) or symbol names, a symbol optionally followed by #n (the n-th of that name) or #g (the global one). A
/// number after '/' is a size; a symbol there ends the range at that symbol's end.
/// </summary>
public static class AddressFilterParser
{
    public static IReadOnlyList<AddressFilterSpec> Parse(string text)
    {
        var filters = new List<AddressFilterSpec>();
        int pos = 0;
        SkipAny(text, ref pos, " ,");
        while (pos < text.Length)
        {
            int begin = pos;
            string action = Token(text, ref pos, " ");
            var (kind, range) = action switch
            {
                "filter" => (AddressFilterAction.Filter, true),
                "start" => (AddressFilterAction.Start, false),
                "stop" => (AddressFilterAction.Stop, false),
                "tracestop" => (AddressFilterAction.Stop, true),
                _ => throw Error(text, $"unknown action '{action}' (expected filter, start, stop or tracestop)"),
            };
            var from = Operand(text, ref pos, "a start address or symbol");
            FilterOperand? to = null;
            Skip(text, ref pos);
            if (pos < text.Length && text[pos] == '/')
            {
                pos++;
                to = Operand(text, ref pos, "a size or an end symbol after '/'");
                range = true;
            }
            Skip(text, ref pos);
            string? file = null;
            if (pos < text.Length && text[pos] == '@')
            {
                pos++;
                Skip(text, ref pos);
                file = Token(text, ref pos, " ,");
                if (file.Length == 0) throw Error(text, "a file name must follow '@'");
            }
            Skip(text, ref pos);
            if (pos < text.Length && text[pos] != ',' && !IsActionStart(text, pos))
                throw Error(text, $"unexpected '{text[pos..]}' after filter '{text[begin..pos].Trim()}'");
            filters.Add(new AddressFilterSpec(text[begin..pos].Trim(' ', ','), kind, range, from, to, file));
            SkipAny(text, ref pos, " ,");
        }
        if (filters.Count == 0) throw Error(text, "empty filter");
        return filters;
    }

    private static bool IsActionStart(string text, int pos) =>
        text.AsSpan(pos) is var rest && (rest.StartsWith("filter ") || rest.StartsWith("start ") || rest.StartsWith("stop ") || rest.StartsWith("tracestop "));

    private static FilterOperand Operand(string text, ref int pos, string what)
    {
        Skip(text, ref pos);
        if (pos >= text.Length || text[pos] is '/' or '@' or ',') throw Error(text, $"expected {what}");
        if (char.IsAsciiDigit(text[pos]))
        {
            int begin = pos;
            while (pos < text.Length && char.IsAsciiLetterOrDigit(text[pos])) pos++;
            string number = text[begin..pos];
            if (!TryParseCNumber(number, out ulong value)) throw Error(text, $"'{number}' is not a number");
            return new FilterOperand(value, null);
        }
        string symbol = Token(text, ref pos, " ");
        Skip(text, ref pos);
        int index = -1;
        if (pos < text.Length && text[pos] == '#')
        {
            pos++;
            if (pos < text.Length && text[pos] is 'g' or 'G') { pos++; index = 0; }
            else
            {
                int begin = pos;
                while (pos < text.Length && char.IsAsciiLetterOrDigit(text[pos])) pos++;
                if (!TryParseCNumber(text[begin..pos], out ulong n) || n > int.MaxValue)
                    throw Error(text, $"'#{text[begin..pos]}' after '{symbol}' must be #g or a symbol number like #2");
                index = (int)n;
            }
        }
        return new FilterOperand(0, symbol, index);
    }

    /// <summary>strtoull with base 0, the whole token: 0x/0X hex, a leading 0 octal, else decimal.</summary>
    public static bool TryParseCNumber(string s, out ulong value)
    {
        value = 0;
        if (s.Length == 0) return false;
        if (s.Length > 2 && s[0] == '0' && s[1] is 'x' or 'X')
            return ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        if (s.Length > 1 && s[0] == '0')
        {
            foreach (char c in s)
            {
                if (c is < '0' or > '7' || value > ulong.MaxValue >> 3) return false;
                value = value * 8 + (ulong)(c - '0');
            }
            return true;
        }
        return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static string Token(string text, ref int pos, string delimiters)
    {
        int begin = pos;
        while (pos < text.Length && !delimiters.Contains(text[pos])) pos++;
        return text[begin..pos];
    }

    private static void Skip(string text, ref int pos) => SkipAny(text, ref pos, " ");

    private static void SkipAny(string text, ref int pos, string chars)
    {
        while (pos < text.Length && chars.Contains(text[pos])) pos++;
    }

    private static AddressFilterException Error(string text, string why) =>
        new($"--filter '{text}': {why}; the format is filter|start|stop|tracestop START [/ END_OR_SIZE] [@ FILE]");
}
