#!/usr/bin/env bash
# Writes seed corpora for the fuzz targets into fuzz/corpus/<target>/ from
# the project's own rules (rules/), the conformance cases (tests/cases/*.yml)
# and, when present, a few hundred real events of ../shared/corpora. The
# corpora are generated, never committed (fuzz/corpus is git-ignored).
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import glob, hashlib, json, os, re

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = f"corpus/{target}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{hashlib.sha1(data).hexdigest()}", "wb") as f:
        f.write(data)

counts = {}
def add(target, data):
    put(target, data)
    counts[target] = counts.get(target, 0) + 1

rule_files = sorted(glob.glob("../rules/**/*.yml", recursive=True))
for path in rule_files:
    text = open(path, encoding="utf-8").read()
    add("rule_yaml", text)
    for m in re.finditer(r"^\s*condition:\s*(.+)$", text, re.M):
        add("condition", m.group(1).strip().strip("'\""))

# Case files: each case's rule, its conditions, and its events as JSON.
try:
    import yaml
except ImportError:
    yaml = None
for path in sorted(glob.glob("../tests/cases/*.yml")):
    text = open(path, encoding="utf-8").read()
    if yaml is not None:
        for case in yaml.safe_load(text) or []:
            rule = case.get("rule", "")
            add("rule_yaml", rule)
            for c in re.finditer(r"^\s*condition:\s*(.+)$", rule, re.M):
                add("condition", c.group(1).strip().strip("'\""))
            for key in ("match", "no_match"):
                for event in case.get(key) or []:
                    add("json_event", json.dumps(event, ensure_ascii=False, default=str))
    else:
        # Without PyYAML: the conditions, and the whole file as one rule seed.
        add("rule_yaml", text)
        for c in re.finditer(r"^\s*condition:\s*(.+)$", text, re.M):
            add("condition", c.group(1).strip().strip("'\""))

# Correlation cases: each case's pack (base rules and correlations).
for path in sorted(glob.glob("../tests/cases/correlations/*.yml")):
    text = open(path, encoding="utf-8").read()
    if yaml is not None:
        for case in yaml.safe_load(text) or []:
            add("correlation_yaml", case.get("rule", ""))
    else:
        add("correlation_yaml", text)

for corpus in sorted(glob.glob("../../shared/corpora/*.jsonl")):
    with open(corpus, encoding="utf-8", errors="replace") as f:
        lines = [line for _, line in zip(range(50), f)]
    for line in lines:
        add("json_event", line.rstrip("\n"))
    # cli_input reads a whole input: consecutive lines (auditd groups span several).
    for i in range(0, len(lines), 10):
        add("cli_input", "".join(lines[i:i + 10]))

# Shapes the bad-input matrix cares about.
for s in ['{}', '[]', '1', '"s"', 'null', '{"a":1}\r', '\ufeff{"a":1}', '', ' ', '{"a":"\\u0000"}',
          '{"a":{"b":{"c":1}},"a.b":{"c":2}}', '{"k":1,"k":2}', '[' * 200 + ']' * 200]:
    add("json_event", s)
    add("cli_input", s + "\n" + s)
add("cli_input", '{"type":"EXECVE","msg":"audit(1.0:1)","argc":"18446744073709551615","a0":"ls"}\n')
add("cli_input", '{"Event":{"System":{"EventID":4688,"Channel":"Security"},"EventData":{"NewProcessName":"C:\\\\x\\\\cmd.exe"}}}\n')
# bundle: the target's own valid bundle unedited (first byte 1) and with one
# byte changed and the checksum set again (first byte 3, then position and
# xor); with a release binary at hand, the built-in pack's bundle as it is
# (first byte 0).
add("bundle", bytes([1]))
for i in range(0, 4096, 61):
    add("bundle", bytes([3, i & 255, i >> 8, 0x5A]))
exe = "../target/release/sigmata"
if os.path.exists(exe):
    import subprocess, tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "builtin.sgb")
        if subprocess.run([exe, "compile", "-o", out], capture_output=True).returncode == 0:
            add("bundle", b"\x00" + open(out, "rb").read())
os.makedirs("corpus/differential", exist_ok=True)
print(" ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
PY
