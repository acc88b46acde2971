#!/usr/bin/env bash
# Figures for software Intel PT: for each sample in samples/softpt, `record --soft-pt` throughput (steps/s, from
# the tool's own summary), the PT bytes per million instructions, and the perf.data size.
#   bash bench/softpt_figures.sh [BUILD...]      BUILD: static (default) and/or pie
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet build -c Release "$root/src/Cli" -o "$out/tool" >/dev/null
builds=("${@:-static}")
printf '%-26s %12s %12s %10s %14s %12s\n' sample instructions steps/s "PT bytes" "B/M insns" "perf.data"
for build in "${builds[@]}"; do
  for src in "$root"/samples/softpt/*.c; do
    name=$(basename "$src" .c)
    flags=(-O0 -g -fno-omit-frame-pointer -pthread)
    [ "$build" = static ] && flags+=(-static)
    gcc "${flags[@]}" -o "$out/$name" "$src"
    args=()
    case $name in
      fork_exec) gcc -nostdlib -static -no-pie -o "$out/loop" "$root/samples/softpt/loop.S"; args=("$out/loop") ;;
      busy) args=(20000) ;;
    esac
    dotnet "$out/tool/dotnet-ptrace.dll" record --soft-pt -o "$out/$name.data" -- "$out/$name" "${args[@]}" >/dev/null 2>"$out/err" || true
    insns=$(grep -o '[0-9,]* instructions' "$out/err" | head -1 | tr -d ', instructions')
    rate=$(grep -o '[0-9,]* steps/s' "$out/err" | head -1 | tr -d ', steps/s')
    pt=$(python3 - "$out/$name.data" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
off, size = struct.unpack_from('<QQ', d, 40)
pos, end, total = off, off + size, 0
while pos + 8 <= end:
    t, misc, sz = struct.unpack_from('<IHH', d, pos)
    if sz < 8: break
    if t == 71:
        n = struct.unpack_from('<Q', d, pos + 8)[0]; total += n; pos += sz + n
    else:
        pos += sz
print(total)
PY
)
    file=$(stat -c %s "$out/$name.data")
    printf '%-26s %12s %12s %10s %14s %12s\n' "$name ($build)" "$insns" "$rate" "$pt" "$(( insns > 0 ? pt * 1000000 / insns : 0 ))" "$file"
  done
done
