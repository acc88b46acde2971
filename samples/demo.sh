#!/usr/bin/env bash
# The README's first command: build the bundled CPU-bound sample, record it with dotnet-ptrace, and show what was
# recorded with dotnet-ptrace's own report and script (the file is an ordinary perf.data: perf reads it too).
# Then the instruction flow: a small control-flow sample traced with software Intel PT (this machine may have no PT
# hardware) and decoded into calls and returns, every instruction accounted for; flame graphs of both and a
# timeline of the traced calls.
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
$tool report -i "$out/perf.data" --flamegraph "$out/cpu_bound.svg"

gcc -O0 -g -static -o "$out/control_flow" samples/softpt/control_flow.c
echo
$tool record --soft-pt -o "$out/pt.data" -- "$out/control_flow"
echo
echo "== dotnet-ptrace decode -i $out/pt.data --format calls (around main) =="
$tool decode -i "$out/pt.data" --format calls 2>/dev/null | grep -m1 -n -- '-> main ' | cut -d: -f1 |
  { read -r line; $tool decode -i "$out/pt.data" --format calls 2>/dev/null | sed -n "${line},$((line + 14))p"; }
echo
$tool decode -i "$out/pt.data" -q --stat 2>&1 | tail -n 2
echo "(perf decodes the same trace: perf script -i $out/pt.data --itrace=i0ns)"
echo
echo "== dotnet-ptrace report -i $out/pt.data (every call, exact instruction counts) =="
$tool report -i "$out/pt.data" 2>/dev/null | head -n 12
$tool report -i "$out/pt.data" --timeline "$out/pt.json"
$tool report -i "$out/pt.data" --flamegraph "$out/pt.svg"
echo "(open $out/cpu_bound.svg and $out/pt.svg in a browser, $out/pt.json in ui.perfetto.dev)"
