#!/usr/bin/env python3
"""Drain-rate benchmark: dotnet-ptrace record vs perf record, same event, ring size and workload, in one run.

The workload (samples/syscall_flood.c) makes getppid calls paced to a given rate; each call is one
syscalls:sys_enter_getppid tracepoint record. Each recorder attaches with -p (so its CPU time is its own,
not the workload's), runs until the workload exits, and we read the records it lost from its perf.data with
`perf report --stats`, and its user+sys CPU time from wait4's rusage.

Usage: bench/record_rate.py [--pages 16] [--seconds 2] [--rates 50000,100000,...] [--repeat 3]
"""
import argparse, os, re, resource, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def build(tmp):
    flood = os.path.join(tmp, "syscall_flood")
    subprocess.run(["gcc", "-O2", "-o", flood, os.path.join(ROOT, "samples", "syscall_flood.c")], check=True)
    subprocess.run(["dotnet", "build", os.path.join(ROOT, "src", "Cli"), "-c", "Release", "-v", "quiet", "-nologo"],
                   check=True, stdout=subprocess.DEVNULL)
    return flood, os.path.join(ROOT, "src", "Cli", "bin", "Release", "net10.0", "dotnet-ptrace.dll")

def run_one(recorder, flood, rate, seconds, pages, out):
    calls = int(rate * seconds)
    target = subprocess.Popen([flood, str(calls), str(rate)])
    if recorder == "perf":
        cmd = ["perf", "record", "-q", "-m", str(pages), "-e", "syscalls:sys_enter_getppid", "-p", str(target.pid), "-o", out]
    else:
        cmd = ["dotnet", recorder, "record", "-q", "-m", str(pages), "-e", "syscalls:sys_enter_getppid", "-p", str(target.pid), "-o", out]
    start = time.monotonic()
    rec = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(rec.pid, 0)
    wall = time.monotonic() - start
    target.wait()
    stats = subprocess.run(["perf", "report", "-i", out, "--stats"], capture_output=True, text=True).stdout
    samples = int(re.search(r"SAMPLE events:\s+(\d+)", stats).group(1)) if "SAMPLE events" in stats else 0
    lost_records = int(re.search(r"LOST events:\s+(\d+)", stats).group(1)) if "LOST events" in stats else 0
    lost = 0
    if lost_records:
        dump = subprocess.run(["perf", "script", "-i", out, "--show-lost-events", "-F", "event"], capture_output=True, text=True).stdout
        lost = sum(int(m) for m in re.findall(r"lost (\d+)", dump))
    return dict(samples=samples, lost=lost, cpu=usage.ru_utime + usage.ru_stime, wall=wall)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--rates", default="50000,100000,200000,400000,800000,1600000")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flood, dll = build(tmp)
        out = os.path.join(tmp, "bench.data")
        print(f"ring: {a.pages} pages per CPU; workload: getppid paced, {a.seconds} s per run; median of {a.repeat}")
        print(f"{'rate/s':>9} | {'recorder':>13} | {'records':>9} | {'lost':>9} | {'lost %':>7} | {'CPU s':>6} | {'wall s':>6}")
        for rate in [int(r) for r in a.rates.split(",")]:
            for name, rec in (("perf record", "perf"), ("dotnet-ptrace", dll)):
                runs = sorted((run_one(rec, flood, rate, a.seconds, a.pages, out) for _ in range(a.repeat)), key=lambda r: r["lost"])
                m = runs[len(runs) // 2]
                total = m["samples"] + m["lost"]
                pct = 100.0 * m["lost"] / total if total else 0
                print(f"{rate:>9} | {name:>13} | {m['samples']:>9} | {m['lost']:>9} | {pct:>6.2f}% | {m['cpu']:>6.2f} | {m['wall']:>6.2f}", flush=True)

if __name__ == "__main__":
    main()
