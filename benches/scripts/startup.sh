#!/usr/bin/env bash
# Start-up of `sigmata scan` from rule files against from a bundle of the same
# pack, on an empty input (loading only), whole process, runs alternating;
# prints medians, the ratio, the bundle's size, and checks that both give the
# same JSONL on an input file if one is given, and how long both scan it.
#
#   benches/scripts/startup.sh [RUNS] [EVENTS.jsonl]
#
# The pack is the SigmaHQ Windows process_creation pack of ../shared/sigma
# (three folders). Measure on a quiet machine: a background build halves it.
set -euo pipefail
runs=${1:-15}
events=${2:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SIGMATA_SHARED:-$root/../shared}
S=$shared/sigma
bin=$root/target/release/sigmata
cargo build --release -q -p sigmata-cli --manifest-path "$root/Cargo.toml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rules=(-r "$S/rules" -r "$S/rules-emerging-threats" -r "$S/rules-threat-hunting"
       --logsource category=process_creation,product=windows)
"$bin" compile "${rules[@]}" -o "$work/pack.sgb"
: > "$work/empty.jsonl"
python3 - "$runs" "$work" "$bin" "${rules[@]}" <<'EOF'
import os, statistics, subprocess, sys, time
runs, work, binary, rules = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
empty = os.path.join(work, "empty.jsonl")
cmds = {
    "scan -r": [binary, "scan", *rules, empty],
    "scan --bundle": [binary, "scan", "--bundle", os.path.join(work, "pack.sgb"), empty],
}
times = {k: [] for k in cmds}
for _ in range(runs):
    for name, cmd in cmds.items():
        start = time.perf_counter()
        # Exit status 1 is "no match".
        if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode not in (0, 1):
            sys.exit(f"{name} failed")
        times[name].append(time.perf_counter() - start)
for name, xs in times.items():
    print(f"{name:14} median {statistics.median(xs) * 1e3:7.1f} ms  (min {min(xs) * 1e3:.1f}, max {max(xs) * 1e3:.1f})")
ratio = statistics.median(times["scan -r"]) / statistics.median(times["scan --bundle"])
print(f"ratio          {ratio:.1f}x   bundle {os.path.getsize(os.path.join(work, 'pack.sgb')):,} bytes, {runs} runs each")
EOF
if [ -n "$events" ]; then
    a=$("$bin" scan "${rules[@]}" "$events" 2>/dev/null | md5sum || true)
    b=$("$bin" scan --bundle "$work/pack.sgb" "$events" 2>/dev/null | md5sum || true)
    echo "JSONL on $events: rules $a, bundle $b"
    [ "$a" = "$b" ] || { echo "outputs differ" >&2; exit 1; }
    # The scan itself (`--stats` scan_s, one thread, medians of 5 alternating):
    # a loaded bundle must evaluate as fast as the compiled pack, but for the
    # regexes it compiles on first use.
    python3 - "$bin" "$work/pack.sgb" "$events" "${rules[@]}" <<'PY'
import json, statistics, subprocess, sys
binary, pack, events, rules = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
cmds = {"scan -r": [*rules], "scan --bundle": ["--bundle", pack]}
secs = {k: [] for k in cmds}
for _ in range(5):
    for name, args in cmds.items():
        p = subprocess.run([binary, "scan", "-j", "1", "--format", "none", "--stats", *args, events],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stats = json.loads(p.stderr.strip().splitlines()[-1])
        secs[name].append(stats["scan_s"])
for name, xs in secs.items():
    print(f"{name:14} scan_s median {statistics.median(xs):.3f} s  (min {min(xs):.3f})")
PY
fi
