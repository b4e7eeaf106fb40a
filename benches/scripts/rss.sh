#!/usr/bin/env bash
# Bounded memory: pipes a generated stream of process-creation events
# (gen-corpus, fixed seed, distinct values throughout, so value caches keep
# turning over) into `sigmata scan -` and reports the peak resident set size
# after each amount of input. Peak RSS that stays flat from 1 GB to 4 GB
# means the stdin path holds no per-event state.
#
# Usage: benches/scripts/rss.sh [SIZE...]   (sizes for head -c; default: 1G 4G)
# Rules: the SigmaHQ Windows process_creation pack from ../shared/sigma when
# present, else the pack built into the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1G 4G)
cargo build --release -q -p sigmata-cli -p sigmata-corpus
BIN=target/release/sigmata
GEN=target/release/gen-corpus
rules=()
if [ -d ../shared/sigma/rules ]; then
    for d in rules rules-emerging-threats rules-threat-hunting; do rules+=(-r "../shared/sigma/$d"); done
    pack="SigmaHQ (../shared/sigma)"
else
    pack="built-in"
fi
printf 'rules: %s\n' "$pack"
printf '%-8s %12s %10s %10s %14s\n' input events seconds MB/s peak_rss_MiB
for size in "${sizes[@]}"; do
    stats=$(mktemp)
    timing=$(mktemp)
    # 10 million events is about 13 GB: more than any size asked for; head
    # cuts the stream (the last, cut line is counted as malformed).
    "$GEN" --seed 7 --count 10000000 2>/dev/null | head -c "$size" |
        /usr/bin/time -v -o "$timing" "$BIN" scan "${rules[@]}" --logsource category=process_creation,product=windows \
            --format none --stats - 2> "$stats" || true
    events=$(tail -n 1 "$stats" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["events"])')
    secs=$(grep 'Elapsed (wall clock)' "$timing" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss_kb=$(grep 'Maximum resident set size' "$timing" | awk '{print $NF}')
    bytes=$(numfmt --from=iec "$size")
    printf '%-8s %12s %10.1f %10.0f %14.1f\n' "$size" "$events" "$secs" "$(echo "$bytes / 1000000 / $secs" | bc -l)" "$(echo "$rss_kb / 1024" | bc -l)"
    rm -f "$stats" "$timing"
done
