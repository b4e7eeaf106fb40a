#!/usr/bin/env python3
"""Benchmark corpora from the real Windows process-creation events of ../shared/corpora.

    benches/scripts/distinct.py OUT_DIR [--copies N] [--limit N]

writes, from sysmon_1.jsonl and security_4688.jsonl (the 4688 events renamed
to Sysmon event 1 field names, as .ci/run's equivalence check does):

  distinct.jsonl  the real events, then N-1 copies (default N = 5) in which a
                  few ASCII letters of every string value change case. Raw
                  values repeat only as often as the real data repeats them;
                  case-insensitive matching is unchanged (case-sensitive
                  regexes may match differently on the copies, which is why
                  every benchmark reports its match count).
  repeated.jsonl  the Sysmon events repeated N times unchanged: the warm-cache
                  case (values seen before), reported separately.

--every N keeps every Nth line of each file (the instruction-count gate
measures such a sample of the distinct events under callgrind). The output is the same for the same input.
"""
import json
import os
import sys

LEVELS = {"S-1-16-0": "Untrusted", "S-1-16-4096": "Low", "S-1-16-8192": "Medium",
          "S-1-16-12288": "High", "S-1-16-16384": "System"}
WELL_KNOWN = {"S-1-5-18": "NT AUTHORITY\\SYSTEM", "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
              "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE"}
# Routing fields keep their exact text.
KEEP = {"EventID", "Channel", "Provider_Name"}


def dumps(event):
    """Compact JSON, as the real corpora are written."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def dec(v):
    return str(int(v, 16)) if isinstance(v, str) and v.lower().startswith("0x") else v


def as_sysmon(d):
    """A Security 4688 event under Sysmon event 1 field names."""
    s = dict(d)
    s["EventID"], s["Channel"] = 1, "Microsoft-Windows-Sysmon/Operational"
    s.pop("ProcessId", None)
    for new, old in (("Image", "NewProcessName"), ("ParentImage", "ParentProcessName"), ("LogonId", "SubjectLogonId")):
        if old in d:
            s[new] = d[old]
    if "NewProcessId" in d:
        s["ProcessId"] = dec(d["NewProcessId"])
    if "ProcessId" in d:
        s["ParentProcessId"] = dec(d["ProcessId"])
    if "MandatoryLabel" in d:
        s["IntegrityLevel"] = LEVELS.get(d["MandatoryLabel"], d["MandatoryLabel"])
    if d.get("SubjectUserSid") in WELL_KNOWN:
        s["User"] = WELL_KNOWN[d["SubjectUserSid"]]
    elif "SubjectUserName" in d:
        dom = d.get("SubjectDomainName", "")
        s["User"] = f'{dom}\\{d["SubjectUserName"]}' if dom and dom != "-" else d["SubjectUserName"]
    return s


def flip(text, copy):
    """Changes the case of every 7th ASCII letter, starting at a copy-dependent offset."""
    out, letters = [], 0
    for ch in text:
        if ch.isascii() and ch.isalpha():
            if (letters + copy) % 7 == 0:
                ch = ch.swapcase()
            letters += 1
        out.append(ch)
    return "".join(out)


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    out_dir, copies, every = args[0], 5, 1
    if "--copies" in args:
        copies = int(args[args.index("--copies") + 1])
    if "--every" in args:
        every = int(args[args.index("--every") + 1])
    corpora = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/corpora")
    sysmon = [json.loads(l) for l in open(os.path.join(corpora, "sysmon_1.jsonl")) if l.strip()]
    security = [as_sysmon(json.loads(l)) for l in open(os.path.join(corpora, "security_4688.jsonl")) if l.strip()]
    events = sysmon + security
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    with open(os.path.join(out_dir, "distinct.jsonl"), "w") as f:
        lines = [dumps(e) for e in events]
        for copy in range(1, copies):
            for e in events:
                lines.append(dumps({k: (flip(v, copy) if isinstance(v, str) and k not in KEEP else v)
                                         for k, v in e.items()}))
        lines = lines[::every]
        f.write("\n".join(lines) + "\n")
        written["distinct.jsonl"] = len(lines)
    with open(os.path.join(out_dir, "repeated.jsonl"), "w") as f:
        lines = [dumps(e) for e in sysmon] * copies
        lines = lines[::every]
        f.write("\n".join(lines) + "\n")
        written["repeated.jsonl"] = len(lines)
    for name, n in written.items():
        print(f"{os.path.join(out_dir, name)}: {n} events", file=sys.stderr)


if __name__ == "__main__":
    main()
