#!/usr/bin/env bash
# The README's first command: build the bundled CPU-bound sample, record it with dotnet-ptrace, and show what was
# recorded with Linux perf (the file is an ordinary perf.data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps   # perf and gcc from Debian, when missing
out=$(mktemp -d /tmp/dotnet-ptrace-demo.XXXXXX)
gcc -O0 -g -fno-omit-frame-pointer -o "$out/cpu_bound" samples/cpu_bound.c
dotnet build src/Cli -c Release -v quiet -nologo >/dev/null
dotnet src/Cli/bin/Release/net10.0/dotnet-ptrace.dll record -e cpu-clock:u -F 4000 -g -o "$out/perf.data" -- "$out/cpu_bound" 1000
echo
echo "== perf report -i $out/perf.data (hot functions) =="
perf report -i "$out/perf.data" --stdio --no-children --sort comm,dso,sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 8
echo
echo "== perf script -i $out/perf.data (first samples, with call chains) =="
perf script -i "$out/perf.data" -F comm,pid,tid,time,event,ip,sym 2>/dev/null | head -n 12
