namespace DotnetPtrace.Decoders.IntelPt.Live;

/// <summary>
/// Where a stream's trace bytes were in the input (the perf.data file or pipe stream), so that errors and events
/// name the same offsets `decode` prints: the AUX offset and input offset of each chunk, forgotten once decoded.
/// </summary>
internal sealed class LiveOffsetMap
{
    private readonly List<(ulong Aux, long Input)> _pieces = [];

    public void Add(ulong aux, long input)
    {
        while (_pieces.Count > 0 && _pieces[^1].Aux >= aux) _pieces.RemoveAt(_pieces.Count - 1);
        _pieces.Add((aux, input));
    }

    /// <summary>The input offset of the trace byte at AUX offset <paramref name="aux"/> (the AUX offset when unknown).</summary>
    public long InputOffsetOf(ulong aux)
    {
        for (int i = _pieces.Count - 1; i >= 0; i--)
            if (_pieces[i].Aux <= aux) return _pieces[i].Input < 0 ? (long)aux : _pieces[i].Input + (long)(aux - _pieces[i].Aux);
        return (long)aux;
    }

    /// <summary>Forgets the pieces wholly before <paramref name="aux"/>.</summary>
    public void Forget(ulong aux)
    {
        int n = 0;
        while (n + 1 < _pieces.Count && _pieces[n + 1].Aux <= aux) n++;
        if (n > 0) _pieces.RemoveRange(0, n);
    }
}
