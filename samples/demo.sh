#!/usr/bin/env bash
# The README's first command: build the bundled CPU-bound sample, record it with dotnet-ptrace, and show what was
# recorded with dotnet-ptrace's own report and script (the file is an ordinary perf.data: perf reads it too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps   # perf, gcc and libipt from Debian, when missing
out=$(mktemp -d /tmp/dotnet-ptrace-demo.XXXXXX)
gcc -O0 -g -fno-omit-frame-pointer -o "$out/cpu_bound" samples/cpu_bound.c
dotnet build src/Cli -c Release -v quiet -nologo >/dev/null
tool="dotnet src/Cli/bin/Release/net10.0/dotnet-ptrace.dll"
$tool record -e cpu-clock:u -F 4000 -g -o "$out/perf.data" -- "$out/cpu_bound" 1000
echo
echo "== dotnet-ptrace report -i $out/perf.data =="
$tool report -i "$out/perf.data" | head -n 12
echo
echo "== dotnet-ptrace script -i $out/perf.data (first samples, with call chains) =="
$tool script -i "$out/perf.data" | head -n 12
echo
echo "(perf reads the same file: perf report -i $out/perf.data)"
