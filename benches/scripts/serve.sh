#!/usr/bin/env bash
# Throughput of `sigmata serve` through NATS JetStream with 1, 2 and 3
# workers, against `sigmata scan` on the same file, side by side in one run.
#
# The events are distinct (gen-corpus, fixed seed): each is published once
# to a file-backed stream on a nats-server this script starts on 127.0.0.1
# (and stops). For each worker count and run, a new durable consumer reads
# the whole stream; the workers exit when it is drained (--exit-when-idle).
# Rates are events over the span from the first message any worker received
# to the last acknowledgement any worker had confirmed (rule loading and the
# final idle check are excluded); scan's is its `events_per_s` (rule loading
# excluded). Each alert is published with a JetStream acknowledgement before
# its event is acknowledged, so serve's rate includes that round trip, which
# scan does not pay. The alert count of every run must equal scan's match
# count, or the script fails.
#
# Usage: benches/scripts/serve.sh [EVENTS [RUNS]]   (default: 100000 events, 3 runs; medians shown)
# Rules: SigmaHQ's windows/process_creation from ../shared/sigma when
# present, else the pack built into the binary. Needs nats-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100000}
runs=${2:-3}
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$NATS" ] || { echo "nats-server is not installed (apt-get install nats-server)" >&2; exit 1; }
cargo build --release -q -p sigmata-cli -p sigmata-corpus
BIN=$PWD/target/release/sigmata
GEN=$PWD/target/release/gen-corpus
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=nats://127.0.0.1:$port
"$NATS" -js -a 127.0.0.1 -p "$port" -sd "$work/js" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

rules=()
pack="built-in"
if [ -d ../shared/sigma/rules/windows/process_creation ]; then
    rules=(-r ../shared/sigma/rules/windows/process_creation)
    pack="SigmaHQ windows/process_creation"
fi
"$GEN" --seed 11 --count "$count" > "$work/events.jsonl" 2>/dev/null
cores=$(nproc)
echo "machine: $cores cores, $(uptime | sed 's/.*load average/load average/') (shared machine: figures are indicative)"
echo "events: $count distinct (gen-corpus --seed 11), rules: $pack"

scan_rates=()
for _ in $(seq "$runs"); do
    "$BIN" scan "${rules[@]}" --format none --stats "$work/events.jsonl" 2> "$work/scan.stats" || true
    scan_rates+=("$(tail -n 1 "$work/scan.stats" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["events_per_s"])')")
done
matches=$(tail -n 1 "$work/scan.stats" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["matches"])')

"$BIN" nats stream --nats "$URL" EVENTS --subjects 'events.>' > /dev/null
"$BIN" nats stream --nats "$URL" ALERTS --subjects 'alerts.>' > /dev/null
start=$(date +%s.%N)
"$BIN" nats publish --nats "$URL" --subject events.bench "$work/events.jsonl" 2> /dev/null
publish_s=$(echo "$(date +%s.%N) - $start" | bc -l)

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
scan_rate=$(median "${scan_rates[@]}")
printf 'publish: %.0f events/s (sigmata nats publish, acknowledged)\n' "$(echo "$count / $publish_s" | bc -l)"
printf 'scan -j %s: %.0f events/s (median of %s), %s matches\n\n' "$cores" "$scan_rate" "$runs" "$matches"
printf '%-8s %-6s %12s %10s %14s %10s\n' workers -j events alerts events/s vs_scan
for workers in 1 2 3; do
    threads=$(( cores / workers > 0 ? cores / workers : 1 ))
    rates=()
    for run in $(seq "$runs"); do
        name="w${workers}r${run}"
        pids=()
        for i in $(seq "$workers"); do
            "$BIN" serve --nats "$URL" --stream EVENTS --consumer "$name" --alerts-subject "alerts.$name" \
                "${rules[@]}" -j "$threads" --exit-when-idle --log-format json 2> "$work/$name.$i.log" &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        alerts=$("$BIN" nats read --nats "$URL" ALERTS --subject "alerts.$name" | wc -l)
        if [ "$alerts" -ne "$matches" ]; then
            echo "serve published $alerts alerts with $workers worker(s), scan found $matches matches" >&2
            exit 1
        fi
        rates+=("$(python3 - "$work"/"$name".*.log <<'EOF'
import json, sys
stops = [json.loads(l) for p in sys.argv[1:] for l in open(p) if '"stopped"' in l]
events = sum(s["events"] for s in stops)
busy = [s for s in stops if s["events"] > 0]
span = max(s["last_ack_unix_s"] for s in busy) - min(s["first_message_unix_s"] for s in busy)
print(round(events / span))
EOF
)")
    done
    rate=$(median "${rates[@]}")
    printf '%-8s %-6s %12s %10s %14.0f %10.2f\n' "$workers" "$threads" "$count" "$matches" "$rate" "$(echo "$rate / $scan_rate" | bc -l)"
done
