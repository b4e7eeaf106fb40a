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
# (benches/examples/peer_scan.rs). Times are each engine's own scan time, net
# of rule loading (sigmata's `scan_s` from --stats; peer_scan times the same
# span); load times are printed apart. Medians of RUNS; the ratio is of the
# medians. `wc -l` over the same bytes is the physical reference (memchr
# speed, whole process).
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
import json, statistics, subprocess, sys, time
runs, work, shared = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sigma = f"{shared}/sigma"
rules = ["-r", f"{sigma}/rules", "-r", f"{sigma}/rules-emerging-threats", "-r", f"{sigma}/rules-threat-hunting"]

def sigmata(path):
    p = subprocess.run(["target/release/sigmata", "scan", *rules, "--logsource", "category=process_creation,product=windows",
                        "--format", "none", "--stats", "-j", "1", path], capture_output=True, text=True)
    if p.returncode >= 2:
        sys.exit(f"sigmata scan failed on {path}: {p.stderr}")
    s = json.loads(p.stderr.strip().splitlines()[-1])
    return s["scan_s"], s["elapsed_s"] - s["scan_s"], s["events"], s["matches"], f'{s["rules_loaded"]} rules'

def rsigma(path):
    p = subprocess.run(["target/release/examples/peer_scan", path], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"peer_scan failed on {path}: {p.stderr}")
    s = json.loads(p.stdout.strip().splitlines()[-1])
    return s["scan_s"], s["load_s"], s["events"], s["matches"], \
        f'{s["rule_files"] - s["rule_files_refused"]} of {s["rule_files"]} rule files'

def wc(path):
    t = time.perf_counter()
    subprocess.run(["wc", "-l", path], check=True, capture_output=True)
    return time.perf_counter() - t

print(f"| events | engine | rules | events | matches | load s | scan s | events/s | MB/s | sigmata ÷ rsigma |")
print(f"|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name in ("distinct", "repeated", "generated"):
    path = f"{work}/{name}.jsonl"
    size = sum(len(l) for l in open(path, "rb"))
    results = {"sigmata": [], "rsigma-eval 0.23": []}
    for _ in range(runs):
        results["sigmata"].append(sigmata(path))
        results["rsigma-eval 0.23"].append(rsigma(path))
    rate = {}
    for engine, rs in results.items():
        scan = statistics.median(r[0] for r in rs)
        load = statistics.median(r[1] for r in rs)
        _, _, events, matches, loaded = rs[0]
        assert all(r[2:4] == (events, matches) for r in rs), f"{engine}: counts differ between runs"
        rate[engine] = events / scan
        ratio = f"{rate['sigmata'] / rate[engine]:.1f}×" if engine != "sigmata" else ""
        print(f"| {name} | {engine} | {loaded} | {events:,} | {matches:,} | {load:.3f} | {scan:.3f} | "
              f"{events / scan:,.0f} | {size / scan / 1e6:.0f} | {ratio} |")
    line_count = statistics.median(wc(path) for _ in range(runs))
    print(f"| {name} | `wc -l` (whole process) | | | | | {line_count:.3f} | | {size / line_count / 1e6:.0f} | |")
PY
