#!/usr/bin/env bash
# Correlation throughput and bounded state: streams N generated events into
# `sigmata scan -` with the project's pack (its three correlations) plus one
# event_count correlation grouped by User, where every event has a new User:
# N distinct group keys. Reports events/s, alerts, evicted groups and peak
# RSS per N. Peak RSS that stays flat from 100k to 1M keys means the group
# cap (--max-groups, default 100,000) holds; evicted_groups says how often.
#
# Usage: benches/scripts/correlation.sh [N...]   (default: 100000 1000000)
# BIN=path/to/sigmata overrides the release build (e.g. a debug binary for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100000 1000000)
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p sigmata-cli
    BIN=target/release/sigmata
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp -r rules "$dir/pack"
cat > "$dir/pack/per_user_burst.yml" <<'YML'
title: Bench - whoami per user
name: bench_whoami
logsource: {category: process_creation, product: windows}
detection: {sel: {Image|endswith: '\whoami.exe'}, condition: sel}
---
title: Bench - whoami burst per user
correlation:
  type: event_count
  rules: [bench_whoami]
  group-by: [User]
  timespan: 5m
  condition: {gte: 3}
YML
printf '%10s %12s %10s %12s %8s %14s %14s\n' keys events seconds events/s alerts evicted_groups peak_rss_MiB
for n in "${counts[@]}"; do
    stats=$(mktemp)
    timing=$(mktemp)
    # One event per new user every millisecond of event time (300,000 groups
    # live in a 5m window, more than the cap); every 1000th user
    # runs whoami three times, so some groups fire.
    python3 - "$n" <<'PY' |
import sys, datetime
n = int(sys.argv[1])
base = datetime.datetime(2025, 1, 1)
out = sys.stdout
for i in range(n):
    t = (base + datetime.timedelta(milliseconds=i)).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]
    user = f"u{i // 3}" if i % 3000 < 3 else f"u{i}"
    out.write('{"Image":"C:\\\\Windows\\\\System32\\\\whoami.exe","CommandLine":"whoami /all","User":"%s","UtcTime":"%s"}\n' % (user, t))
PY
        /usr/bin/time -v -o "$timing" "$BIN" scan -r "$dir/pack" --format none --stats - 2> "$stats" || true
    read -r events alerts evicted < <(tail -n 1 "$stats" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); c=d["correlation"]; print(d["events"], c["alerts"], c["evicted_groups"])')
    secs=$(grep 'Elapsed (wall clock)' "$timing" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss_kb=$(grep 'Maximum resident set size' "$timing" | awk '{print $NF}')
    printf '%10s %12s %10.1f %12.0f %8s %14s %14.1f\n' "$n" "$events" "$secs" "$(echo "$events / $secs" | bc -l)" "$alerts" "$evicted" "$(echo "$rss_kb / 1024" | bc -l)"
    rm -f "$stats" "$timing"
done
