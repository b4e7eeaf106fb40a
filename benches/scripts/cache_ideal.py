#!/usr/bin/env python3
"""How close the engine's value cache comes to a cache that never forgets.

    benches/scripts/cache_ideal.py CORPUS.jsonl [FIELD ...]

Replays the string values of the fields the engine scans (by default the 17
fields the SigmaHQ Windows process_creation pack scans, as listed by
`cargo run --release -p sigmata-benches --example throughput -- sigmahq`)
through a model of the engine's per-field value cache: values shorter than
16 bytes are never cached (they are scanned every time), the others are
looked up by their exact text, and a field's cache is emptied when it holds
4,096 values or 1 MiB of them (`Config::value_cache`'s defaults). Prints,
per event: values scanned, short ones, cache hits, misses and the bytes the
misses leave for the automata; and the misses of an unbounded cache (the first occurrence of every value of 16
bytes or more), the least any cache of raw values can reach.
"""
import json
import sys

FIELDS = ("Description Image OriginalFileName CommandLine CurrentDirectory ParentImage ParentCommandLine "
          "Product Hashes IntegrityLevel Provider_Name Company User FileVersion ParentUser LogonId "
          "GrandParentImage").split()
MIN_LEN, ENTRIES, BYTES = 16, 4096, 1 << 20


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    fields = sys.argv[2:] or FIELDS
    cache = {f: set() for f in fields}
    held = dict.fromkeys(fields, 0)
    seen = {f: set() for f in fields}
    events = scans = short = hits = misses = miss_bytes = first = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            events += 1
            for field in fields:
                value = event.get(field)
                if not isinstance(value, str):
                    continue
                scans += 1
                if len(value) < MIN_LEN:
                    short += 1
                    continue
                if value not in seen[field]:
                    seen[field].add(value)
                    first += 1
                if value in cache[field]:
                    hits += 1
                    continue
                misses += 1
                miss_bytes += len(value.encode())
                if len(value.encode()) > BYTES // 16:
                    continue
                if len(cache[field]) + 1 > ENTRIES or held[field] + len(value.encode()) > BYTES:
                    cache[field].clear()
                    held[field] = 0
                cache[field].add(value)
                held[field] += len(value.encode())
    n = max(events, 1)
    print(f"{events} events; per event: {scans / n:.2f} values scanned, {short / n:.2f} shorter than {MIN_LEN} bytes, "
          f"{hits / n:.2f} cache hits, {misses / n:.2f} misses ({miss_bytes / n:.0f} bytes); "
          f"an unbounded cache misses {first / n:.2f} (first occurrences)")


if __name__ == "__main__":
    main()
