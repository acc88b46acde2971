#!/bin/sh
# Figures for `trace`'s live pipeline on the SIMULATED AUX producer (this machine has no Intel PT): a software-PT
# recording of samples/softpt/control_flow.c (static, a PSB every 2 KiB, 4.7 KB of trace) is replayed by
# `trace --simulate` many times over at a fixed rate through the simulated kernel producer, the production AUX
# drain, the perf.data writer and the live decoder, with an 8 MiB queue before the decoder (more is skipped).
# For each format and rate it prints: bytes decoded/skipped, the queue peak, the decoder's buffers, the latency from
# a burst's capture to its decoded lines being written (median, p99), and the process's peak RSS (which includes the
# simulation's own copy of the trace, its packet index and the file writer's 64 MiB queue).
# The highest rate with nothing skipped is the sustained rate the live decoder keeps up with.
# Usage: bench/trace/run.sh [seconds per run, default 5]
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_PER_RUN=${1:-5}
dotnet build -c Release "$ROOT/src/Cli" >/dev/null
TOOL="dotnet $ROOT/src/Cli/bin/Release/net10.0/dotnet-ptrace.dll"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
gcc -O0 -g -fno-omit-frame-pointer -static -o "$WORK/cf" "$ROOT/samples/softpt/control_flow.c"
$TOOL record --soft-pt -q -e intel_pt/psb_period=0/u -o "$WORK/cf.data" -- "$WORK/cf" >/dev/null
BYTES=4712
for FORMAT in calls branches insn; do
  case $FORMAT in
    insn) RATES="1M 2M 3M 4M 6M" ;;
    *) RATES="4M 6M 8M 10M 12M 16M" ;;
  esac
  for RATE in $RATES; do
    PER_SECOND=$(echo "$RATE" | sed 's/M$/*1048576/' | bc)
    REPEAT=$((PER_SECOND * SECONDS_PER_RUN / BYTES))
    $TOOL trace --simulate "$WORK/cf.data" --repeat "$REPEAT" --rate "$RATE" --queue 8M --format "$FORMAT" --stat >/dev/null 2>"$WORK/err"
    echo "== --format $FORMAT --rate $RATE (--repeat $REPEAT)"
    grep -E "decoded,|queue:|buffers:|latency" "$WORK/err" | sed 's/^/   /'
  done
done
