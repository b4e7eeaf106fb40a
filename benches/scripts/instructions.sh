#!/usr/bin/env bash
# Deterministic performance gate: instruction counts (callgrind) of compiling
# and evaluating, which do not flap on a shared machine the way wall-clock
# times do.
#
#   benches/scripts/instructions.sh                 # print the TSV
#   benches/scripts/instructions.sh --out FILE      # write it (e.g. a new baseline)
#   benches/scripts/instructions.sh --check FILE    # compare with a baseline: fail if any
#                                                   # count grew by more than 5 %, or if
#                                                   # what was produced (rules, matches) changed
#
# Benchmarks (each a phase of benches/src/bin/instructions.rs; only the
# measured function is counted):
#   compile/own             Builder::build_correlated of the project's pack (rules/)
#   evaluate/own            fill_json + matches_record over the generated corpus followed by
#                           the events of the pack's sidecar tests (rules/**/*.tests.yml), on
#                           which the pack matches: the generated corpus alone matched none of
#                           its rules, so "produced" could not catch a lost detection
#   compile/sigmahq-pc      Builder::build_correlated of SigmaHQ's rules/windows/process_creation
#   evaluate/sigmahq-pc     the same pack over the generated corpus
#   evaluate/sigmahq-pc-distinct  the same pack over real events seen once
#                           each (every 20th line of benches/scripts/distinct.py's
#                           distinct.jsonl: 2,185 events), so the value caches
#                           miss as they do on a live stream
#   evaluate/sigmahq-distinct  the distinct events with the whole SigmaHQ Windows
#                           process_creation pack (rules, rules-emerging-threats,
#                           rules-threat-hunting: 1,415 rules, with a keyword rule)
#   evaluate-bundle/sigmahq-distinct  the same with the engine read back from its
#                           bundle (Engine::to_bundle, from_bundle), after one uncounted
#                           pass over the events (a loaded bundle compiles each regex on
#                           first use)
# The generated corpus is gen-corpus --seed 1 --count 2000 (2.6 MB), made here.
# The SigmaHQ rows need ../shared; without it they are skipped, and said so.
#
# GATE_TOLERANCE (default 5) is the allowed growth in percent. Counts vary
# by well under 1 % between runs (hash seeds change iteration orders).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="" check=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --check) check=$2; shift 2 ;;
        *) echo "usage: $0 [--out FILE] [--check BASELINE]" >&2; exit 2 ;;
    esac
done
tolerance=${GATE_TOLERANCE:-5}
# A binary, not an example: examples would build the peers (dev-dependencies) in release too.
cargo build --release -q -p sigmata-benches --bin instructions
cargo build --release -q -p sigmata-corpus --bin gen-corpus
work=target/instructions
mkdir -p "$work"
corpus=$work/generated-seed1-2000.jsonl
[ -s "$corpus" ] || target/release/gen-corpus --seed 1 --count 2000 --out "$corpus"
own_corpus=$work/generated-seed1-2000-and-sidecars.jsonl
{ cat "$corpus"; target/release/instructions sidecar-events; } > "$own_corpus"
# Rows: name, phase, pack, corpus.
rows=("compile/own compile own -" "evaluate/own evaluate own $own_corpus")
if [ -d ../shared/sigma/rules/windows/process_creation ]; then
    [ -s "$work/distinct/distinct.jsonl" ] || python3 benches/scripts/distinct.py "$work/distinct" --every 20
    rows+=("compile/sigmahq-pc compile sigmahq-pc -" "evaluate/sigmahq-pc evaluate sigmahq-pc $corpus"
        "evaluate/sigmahq-pc-distinct evaluate sigmahq-pc $work/distinct/distinct.jsonl"
        "evaluate/sigmahq-distinct evaluate sigmahq $work/distinct/distinct.jsonl"
        "evaluate-bundle/sigmahq-distinct evaluate-bundle sigmahq $work/distinct/distinct.jsonl")
else
    echo "instructions: ../shared/sigma is absent: the sigmahq-pc rows are skipped" >&2
fi

tsv=$work/current.tsv
printf 'benchmark\tinstructions\tproduced\n' > "$tsv"
for row in "${rows[@]}"; do
    read -r name phase pack events <<< "$row"
    args=("$phase" "$pack")
    [ "$phase" != compile ] && args+=("$events")
    cg=$work/callgrind.${name//\//.}.out
    produced=$(valgrind --tool=callgrind --callgrind-out-file="$cg" --collect-atstart=no \
        --toggle-collect='instructions::measured_*' target/release/instructions "${args[@]}" 2> "$work/valgrind.log")
    # The totals line of a callgrind profile is the sum of all costs (Ir only here).
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$cg")
    printf '%s\t%s\t%s\n' "$name" "$ir" "$produced" | tee -a "$tsv" | cut -f1-3 >&2
done
[ -n "$out" ] && cp "$tsv" "$out"
[ -z "$out" ] && [ -z "$check" ] && cat "$tsv"
[ -z "$check" ] && exit 0

python3 - "$check" "$tsv" "$tolerance" <<'PY'
import sys
def read(path):
    rows = {}
    for line in open(path):
        name, ir, produced = line.rstrip("\n").split("\t")
        if name != "benchmark":
            rows[name] = (int(ir), produced)
    return rows
base, cur, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
failed = False
print(f"{'benchmark':36} {'baseline':>15} {'current':>15} {'change':>8}")
for name, (ir, produced) in cur.items():
    if name not in base:
        print(f"{name:36} {'-':>15} {ir:>15,} {'new':>8}")
        continue
    b_ir, b_produced = base[name]
    change = (ir - b_ir) / b_ir * 100
    verdict = ""
    if change > tol:
        verdict, failed = f"  FAIL: more than {tol:g} % more instructions", True
    if produced != b_produced:
        verdict, failed = verdict + f"  FAIL: produced {produced}, baseline {b_produced}", True
    print(f"{name:36} {b_ir:>15,} {ir:>15,} {change:>+7.2f}%{verdict}")
for name in base.keys() - cur.keys():
    print(f"{name:36} skipped")
if failed:
    print("instruction-count gate: FAILED (if the growth is intended, regenerate the baseline with --out and say why in the commit)")
    sys.exit(1)
print(f"instruction-count gate: ok (tolerance {tol:g} %)")
PY
