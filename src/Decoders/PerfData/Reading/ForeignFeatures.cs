using System.Buffers.Binary;

namespace DotnetPtrace.Decoders.PerfData.Reading;

/// <summary>
/// Header feature payloads of a foreign-byte-order file, swapped in place to this machine's order (perf's
/// process_* functions with ph->needs_swap). Features whose layouts are not converted here are reported and left
/// out by the reader rather than shown with swapped numbers.
/// </summary>
public static class ForeignFeatures
{
    /// <summary>Converts <paramref name="payload"/>; false when this feature's layout is not handled.</summary>
    public static bool TrySwap(HeaderFeature feature, Span<byte> payload)
    {
        var c = new Walker(payload);
        switch (feature)
        {
            case HeaderFeature.TracingData:   // carries its own endianness flag; perf hands it over as is
            case HeaderFeature.BranchStack:   // no payload
                return true;
            case HeaderFeature.Hostname: case HeaderFeature.OsRelease: case HeaderFeature.Version: case HeaderFeature.Arch:
            case HeaderFeature.CpuDesc: case HeaderFeature.CpuId:
                c.String();
                return true;
            case HeaderFeature.NrCpus: c.U32(2); return true;
            case HeaderFeature.TotalMem: case HeaderFeature.ClockId: c.U64(1); return true;
            case HeaderFeature.SampleTime: c.U64(2); return true;
            case HeaderFeature.Compressed: c.U32(5); return true;
            case HeaderFeature.ClockData: c.U32(2); c.U64(2); return true;
            case HeaderFeature.Auxtrace: c.U64(payload.Length / 8); return true;
            case HeaderFeature.Cmdline:
            {
                uint n = c.U32Value();
                for (uint i = 0; i < n && c.Remaining > 0; i++) c.String();
                return true;
            }
            case HeaderFeature.PmuMappings:
            {
                uint n = c.U32Value();
                for (uint i = 0; i < n && c.Remaining > 0; i++) { c.U32(1); c.String(); }
                return true;
            }
            case HeaderFeature.GroupDesc:
            {
                uint n = c.U32Value();
                for (uint i = 0; i < n && c.Remaining > 0; i++) { c.String(); c.U32(2); }
                return true;
            }
            case HeaderFeature.EventDesc:
            {
                uint n = c.U32Value();
                uint attrSize = c.U32Value();
                for (uint i = 0; i < n && c.Remaining >= attrSize; i++)
                {
                    ForeignByteOrder.Attr(c.Take((int)attrSize));
                    uint ids = c.U32Value();
                    c.String();
                    c.U64((int)Math.Min(ids, (uint)(c.Remaining / 8)));
                }
                return true;
            }
            case HeaderFeature.BuildId:
            {
                // A sequence of {perf_event_header, s32 pid, u8 build_id[24], char filename[]} records.
                while (c.Remaining >= 8 + 4)
                {
                    Span<byte> rest = c.Rest;
                    ForeignByteOrder.Header(rest);
                    ushort size = BinaryPrimitives.ReadUInt16LittleEndian(rest[6..]);
                    if (size < 12 || size > rest.Length) return true;
                    BinaryPrimitives.WriteInt32LittleEndian(rest[8..], BinaryPrimitives.ReadInt32BigEndian(rest[8..]));
                    c.Take(size);
                }
                return true;
            }
            default:
                return false;
        }
    }

    private ref struct Walker(Span<byte> data)
    {
        private readonly Span<byte> _data = data;
        private int _o;

        public readonly int Remaining => _data.Length - _o;
        public readonly Span<byte> Rest => _data[_o..];

        public Span<byte> Take(int n)
        {
            n = Math.Min(n, Remaining);
            var s = _data.Slice(_o, n);
            _o += n;
            return s;
        }

        public void U32(int count)
        {
            for (int i = 0; i < count && Remaining >= 4; i++, _o += 4)
                BinaryPrimitives.WriteUInt32LittleEndian(_data[_o..], BinaryPrimitives.ReadUInt32BigEndian(_data[_o..]));
        }

        public void U64(int count)
        {
            for (int i = 0; i < count && Remaining >= 8; i++, _o += 8)
                BinaryPrimitives.WriteUInt64LittleEndian(_data[_o..], BinaryPrimitives.ReadUInt64BigEndian(_data[_o..]));
        }

        public uint U32Value()
        {
            if (Remaining < 4) { _o = _data.Length; return 0; }
            U32(1);
            return BinaryPrimitives.ReadUInt32LittleEndian(_data[(_o - 4)..]);
        }

        /// <summary>perf's string: u32 length (padding included), then that many bytes.</summary>
        public void String() => Take((int)Math.Min(U32Value(), int.MaxValue));
    }
}
