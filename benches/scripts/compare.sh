#!/usr/bin/env bash
# sigmata against rsigma-eval 0.23, end to end, side by side in one run.
#
#   benches/scripts/compare.sh [RUNS]      # default 5 runs of each, alternating
#
# Both engines get the same rule files (the SigmaHQ Windows process_creation
# rules sigmata loads from rules/, rules-emerging-threats/ and
# rules-threat-hunting/ of ../shared/sigma; rsigma refuses a few, reported)
# and the same JSONL files:
#   distinct   real events, raw values repeating only as real data repeats them
#              (benches/scripts/distinct.py: Sysmon 1 and 4688 events, plus
#              case-flipped copies)
#   repeated   the real Sysmon events repeated 5 times (warm value caches)
#   generated  gen-corpus --seed 1 --count 20000 (the synthetic fleet corpus)
# One thread each: `sigmata scan -j 1`, and rsigma on the calling thread
# (benches/examples/peer_scan.rs). The figure is CPU time (user + system, the
# kernel's accounting of each finished process), net of rule loading: the
# median on the file minus the median on an empty file, engines alternating,
# so a busy machine slows both alike and waiting for a core is not counted.
# Each engine's own wall-clock scan timer is printed beside it. `wc -l` over
# the same bytes is the physical reference (memchr speed, whole process).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
shared=../shared
if [ ! -d "$shared/sigma/rules" ] || [ ! -d "$shared/corpora" ]; then
    echo "compare: ../shared (SigmaHQ rules and corpora) is needed" >&2
    exit 2
fi
cargo build --release -q -p sigmata-cli -p sigmata-corpus
cargo build --release -q -p sigmata-benches --example peer_scan
work=target/bench
mkdir -p "$work"
python3 benches/scripts/distinct.py "$work"
[ -s "$work/generated.jsonl" ] || target/release/gen-corpus --seed 1 --count 20000 --out "$work/generated.jsonl"

python3 - "$runs" "$work" "$shared" <<'PY'
import json, resource, statistics, subprocess, sys, time
runs, work, shared = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sigma = f"{shared}/sigma"
rules = ["-r", f"{sigma}/rules", "-r", f"{sigma}/rules-emerging-threats", "-r", f"{sigma}/rules-threat-hunting"]
empty = f"{work}/empty.jsonl"
open(empty, "w").close()

def run(cmd):
    """Runs cmd; returns (its CPU seconds, user + system, as the OS accounts them; stdout; stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p, cpu

def sigmata(path):
    p, cpu = run(["target/release/sigmata", "scan", *rules, "--logsource", "category=process_creation,product=windows",
                  "--format", "none", "--stats", "-j", "1", path])
    if p.returncode >= 2:
        sys.exit(f"sigmata scan failed on {path}: {p.stderr}")
    s = json.loads(p.stderr.strip().splitlines()[-1])
    return cpu, s["scan_s"], s["events"], s["matches"], f'{s["rules_loaded"]} rules'

def rsigma(path):
    p, cpu = run(["target/release/examples/peer_scan", path])
    if p.returncode != 0:
        sys.exit(f"peer_scan failed on {path}: {p.stderr}")
    s = json.loads(p.stdout.strip().splitlines()[-1])
    return cpu, s["scan_s"], s["events"], s["matches"], \
        f'{s["rule_files"] - s["rule_files_refused"]} of {s["rule_files"]} rule files'

def wc(path):
    t = time.perf_counter()
    subprocess.run(["wc", "-l", path], check=True, capture_output=True)
    return time.perf_counter() - t

engines = {"sigmata": sigmata, "rsigma-eval 0.23": rsigma}
# Loading: each engine on an empty file, alternating.
load = {e: [] for e in engines}
for _ in range(runs):
    for e, f in engines.items():
        load[e].append(f(empty)[0])
load = {e: statistics.median(v) for e, v in load.items()}
print("CPU seconds (user + system) of whole processes, medians of", runs, "runs, engines alternating;")
print("'scan CPU' is the median on the file minus the median on an empty file (rule loading).")
print(f"Loading (empty input): " + ", ".join(f"{e} {v:.3f} s" for e, v in load.items()))
print()
print("| events | engine | rules | events | matches | scan CPU s | events/s | MB/s | scan wall s (own timer) | sigmata ÷ rsigma |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name in ("distinct", "repeated", "generated"):
    path = f"{work}/{name}.jsonl"
    size = sum(len(l) for l in open(path, "rb"))
    results = {e: [] for e in engines}
    for _ in range(runs):
        for e, f in engines.items():
            results[e].append(f(path))
    rate = {}
    for engine, rs in results.items():
        cpu = statistics.median(r[0] for r in rs) - load[engine]
        wall = statistics.median(r[1] for r in rs)
        _, _, events, matches, loaded = rs[0]
        assert all(r[2:4] == (events, matches) for r in rs), f"{engine}: counts differ between runs"
        rate[engine] = events / cpu
        ratio = f"**{rate['sigmata'] / rate[engine]:.1f}×**" if engine != "sigmata" else ""
        print(f"| {name} | {engine} | {loaded} | {events:,} | {matches:,} | {cpu:.3f} | {events / cpu:,.0f} | "
              f"{size / cpu / 1e6:.0f} | {wall:.3f} | {ratio} |")
    line_count = statistics.median(wc(path) for _ in range(runs))
    print(f"| {name} | `wc -l` (whole process, wall) | | | | {line_count:.3f} | | {size / line_count / 1e6:.0f} | | |")
PY
