using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace DotnetPtrace.Native.Dotnet;

/// <summary>What EnablePerfMap asks the runtime to write (the runtime's PerfMapType).</summary>
public enum PerfMapType : uint
{
    Disabled = 0,
    /// <summary>Both the perf map and the jitdump.</summary>
    All = 1,
    JitDump = 2,
    PerfMap = 3,
}

/// <summary>
/// A minimal client of the .NET diagnostics IPC protocol (dotnet/diagnostics documentation/design-docs/
/// ipc-protocol.md), enough to turn on perf maps in a running process without a NuGet package:
/// <list type="bullet">
/// <item>The runtime listens on a Unix socket $TMPDIR/dotnet-diagnostic-PID-KEY-socket (KEY: the process start time,
/// to tell pids apart); we find it by pid, in the target's TMPDIR (read from /proc/PID/environ) or /tmp.</item>
/// <item>A message is a 20-byte header, then the payload: magic "DOTNET_IPC_V1\0" (14 bytes), u16 total size
/// (header included), u8 command set, u8 command id, u16 reserved (0); all little-endian.</item>
/// <item>EnablePerfMap is command set 0x04 (Process), id 0x05, payload u32 PerfMapType. The answer is a message of
/// command set 0xFF (Server): id 0x00 OK with a u32 HRESULT, or 0xFF Error with a u32 HRESULT.</item>
/// </list>
/// Enabling writes out the methods already compiled (a rundown) and every method compiled from then on.
/// </summary>
public static class DiagnosticsIpc
{
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("DOTNET_IPC_V1\0");
    private const int HeaderSize = 20;
    private const byte ProcessCommandSet = 0x04, EnablePerfMapId = 0x05, DisablePerfMapId = 0x06;
    private const byte ServerCommandSet = 0xFF, OkId = 0x00, ErrorId = 0xFF;

    /// <summary>Asks process <paramref name="pid"/> to write perf maps; throws <see cref="DotnetIpcException"/> with a one-line reason.</summary>
    public static void EnablePerfMap(int pid, PerfMapType type = PerfMapType.All, TimeSpan? timeout = null)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)type);
        Send(pid, EnablePerfMapId, payload, "EnablePerfMap", timeout ?? TimeSpan.FromSeconds(10));
    }

    /// <summary>Asks process <paramref name="pid"/> to stop writing perf maps.</summary>
    public static void DisablePerfMap(int pid, TimeSpan? timeout = null) =>
        Send(pid, DisablePerfMapId, [], "DisablePerfMap", timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>The runtime's diagnostics socket of <paramref name="pid"/>, or null (with why) when there is none.</summary>
    public static string? FindSocket(int pid, out string why)
    {
        why = "";
        if (!Directory.Exists($"/proc/{pid}")) { why = $"process {pid} does not exist"; return null; }
        var dirs = new List<string>();
        if (TargetTmpDir(pid) is { Length: > 0 } tmp) dirs.Add(tmp);
        dirs.Add("/tmp");
        string prefix = $"dotnet-diagnostic-{pid.ToString(CultureInfo.InvariantCulture)}-";
        foreach (string dir in dirs.Distinct())
        {
            try
            {
                // Newest first: a recycled pid may have left an old socket behind.
                string? found = new DirectoryInfo(dir).EnumerateFiles(prefix + "*-socket")
                    .OrderByDescending(f => f.LastWriteTimeUtc).Select(f => f.FullName).FirstOrDefault();
                if (found is not null) return found;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        why = IsDotnet(pid)
            ? $"process {pid} runs .NET but has no diagnostics socket ({prefix}*-socket in {string.Join(" or ", dirs.Distinct())}): it may run with DOTNET_EnableDiagnostics=0, or in another mount namespace (a container)"
            : $"process {pid} is not a .NET process (no libcoreclr.so mapped, no diagnostics socket)";
        return null;
    }

    private static void Send(int pid, byte commandId, ReadOnlySpan<byte> payload, string what, TimeSpan timeout)
    {
        string socketPath = FindSocket(pid, out string why) ?? throw new DotnetIpcException($"cannot ask pid {pid} for perf maps: {why}");
        byte[] message = new byte[HeaderSize + payload.Length];
        Magic.CopyTo(message, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(14), (ushort)message.Length);
        message[16] = ProcessCommandSet;
        message[17] = commandId;
        payload.CopyTo(message.AsSpan(HeaderSize));

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.SendTimeout = socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            socket.Send(message);
            Span<byte> header = stackalloc byte[HeaderSize];
            int got = ReceiveFully(socket, header);
            if (got < HeaderSize) throw new DotnetIpcException($"{what} to pid {pid}: the runtime closed {socketPath} after {got} bytes of its answer");
            if (!header[..14].SequenceEqual(Magic)) throw new DotnetIpcException($"{what} to pid {pid}: {socketPath} answered without the DOTNET_IPC_V1 magic");
            int size = BinaryPrimitives.ReadUInt16LittleEndian(header[14..]);
            byte set = header[16], id = header[17];
            Span<byte> body = stackalloc byte[Math.Clamp(size - HeaderSize, 0, 256)];
            int bodyGot = ReceiveFully(socket, body);
            uint hresult = bodyGot >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(body) : 0;
            if (set == ServerCommandSet && id == OkId && hresult == 0) return;
            if (set == ServerCommandSet && (id == ErrorId || id == OkId))
                throw new DotnetIpcException($"{what} to pid {pid}: the runtime refused (HRESULT 0x{hresult:x8}{(hresult == 0x80131384 ? ": unknown command, the runtime is older than .NET 8" : "")})");
            throw new DotnetIpcException($"{what} to pid {pid}: unexpected answer (command set 0x{set:x2}, id 0x{id:x2})");
        }
        catch (SocketException e)
        {
            throw new DotnetIpcException($"{what} to pid {pid}: {socketPath}: {e.Message}");
        }
    }

    private static int ReceiveFully(Socket socket, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = socket.Receive(buffer[done..]);
            if (n == 0) break;
            done += n;
        }
        return done;
    }

    private static string? TargetTmpDir(int pid)
    {
        try
        {
            foreach (string kv in File.ReadAllText($"/proc/{pid}/environ").Split('\0'))
                if (kv.StartsWith("TMPDIR=", StringComparison.Ordinal)) return kv[7..];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>True when the process has the CoreCLR runtime mapped.</summary>
    public static bool IsDotnet(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/maps"))
                if (line.EndsWith("/libcoreclr.so", StringComparison.Ordinal)) return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return false;
    }
}

/// <summary>The diagnostics IPC could not do what was asked; the message is one line for the user.</summary>
public sealed class DotnetIpcException(string message) : Exception(message);
