//! `sigmata scan` on real streams: every input kind, the field-mapping
//! pipelines on events shaped like the real ones (written here), ordering
//! across thread counts, stdin streaming, malformed input accounting, exit
//! codes and output formats.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::{RULE, sigmata, stdout_lines, write};

const WHOAMI: &str = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all","User":"CORP\\alice"}"#;
const CMD: &str =
    r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\cmd.exe"}"#;

/// The `--stats` object (the last JSON line of stderr).
pub(super) fn stats(out: &std::process::Output) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| panic!("no stats in {err}"))
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn rule_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    write(dir, name, text)
}

#[test]
fn directories_gzip_and_json_streams_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "whoami.yml", RULE);
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("deeper")).unwrap();
    write(&logs, "a.jsonl", &format!("{WHOAMI}\n{CMD}\n"));
    std::fs::write(logs.join("deeper/b.jsonl.gz"), gzip(format!("{CMD}\n{WHOAMI}\n{WHOAMI}\n").as_bytes())).unwrap();
    // A gzip'd file is recognised by its magic bytes whatever its name.
    std::fs::write(logs.join("deeper/c.jsonl"), gzip(format!("{WHOAMI}\n").as_bytes())).unwrap();
    write(
        &logs,
        "d.json",
        &format!(
            "{{\n  \"Event\": {{\"System\": {{\"EventID\": 1}},\n  \"EventData\": {{\"Image\": \"C:\\\\whoami.exe\"}}}}\n}}\n{CMD}\n"
        ),
    );
    write(&logs, "notes.txt", &format!("{WHOAMI}\n"));
    let out = sigmata().args(["scan", "--stats", "-r"]).arg(&rule).arg(&logs).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<(String, u64)> = stdout_lines(&out)
        .iter()
        .map(|m| {
            let src = m["source"].as_str().unwrap();
            (src.strip_prefix(&format!("{}/", logs.display())).unwrap_or(src).to_string(), m["line"].as_u64().unwrap())
        })
        .collect();
    // Directory order is by file name, depth first; notes.txt is not an event file.
    let want: Vec<(String, u64)> =
        [("a.jsonl", 1), ("d.json", 1), ("deeper/b.jsonl.gz", 2), ("deeper/b.jsonl.gz", 3), ("deeper/c.jsonl", 1)]
            .iter()
            .map(|(s, l)| (s.to_string(), *l))
            .collect();
    assert_eq!(got, want);
    let s = stats(&out);
    assert_eq!((s["events"].as_u64(), s["matched_events"].as_u64()), (Some(8), Some(5)), "{s}");
}

#[test]
fn a_truncated_gzip_file_is_reported_and_what_came_before_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "whoami.yml", RULE);
    let text: String = (0..2000).map(|i| if i % 2 == 0 { format!("{WHOAMI}\n") } else { format!("{CMD}\n") }).collect();
    let gz = gzip(text.as_bytes());
    let cut = write(dir.path(), "cut.jsonl.gz", "");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let whole = write(dir.path(), "whole.jsonl", &format!("{WHOAMI}\n"));
    let out = sigmata()
        .args(["scan", "--format", "none", "--stats", "-r"])
        .arg(&rule)
        .arg(&cut)
        .arg(&whole)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cut.jsonl.gz: read error after line"), "{err}");
    let s = stats(&out);
    let events = s["events"].as_u64().unwrap();
    // Some lines came out of the first half, and the next file was read.
    assert!(events > 10 && events < 2000, "{s}");
    assert_eq!(
        s["events"].as_u64(),
        Some(s["matched_events"].as_u64().unwrap() + s["unmatched_events"].as_u64().unwrap())
    );
}

/// ../shared, when it is there (it is in CI; a fresh clone has none).
pub(super) fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if p.join("sigma/regression_data").is_dir() {
        Some(p)
    } else {
        eprintln!("../shared is absent: the .evtx checks are skipped (.ci/run runs them)");
        None
    }
}

#[test]
fn evtx_files_match_as_their_evtx_dump_json_does() {
    let Some(shared) = shared() else { return };
    let rules = shared.join("sigma/rules/windows/process_creation");
    let data = shared.join("sigma/regression_data/rules/windows/process_creation");
    // The folder holds each sample twice: `.evtx` and its `.json` rendering.
    let out = sigmata().args(["scan", "--stats", "-r"]).arg(&rules).arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut per_kind: [std::collections::BTreeMap<(String, String), u64>; 2] = Default::default();
    for m in stdout_lines(&out) {
        let src = m["source"].as_str().unwrap();
        let (stem, ext) = src.rsplit_once('.').unwrap();
        let slot = usize::from(ext == "evtx");
        *per_kind[slot].entry((stem.to_string(), m["rule_id"].to_string())).or_default() += 1;
    }
    assert!(per_kind[1].len() > 100, "{} evtx matches", per_kind[1].len());
    // The stored renderings trim trailing spaces of values and the evtx crate
    // does not: a rule on trailing spaces may fire on the .evtx file only.
    // Nothing may fire on the rendering only.
    let lost: Vec<_> = per_kind[0].iter().filter(|(k, n)| per_kind[1].get(*k) < Some(*n)).collect();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(stats(&out)["malformed_lines"], 0);
    // Every header agrees with its file: no false "records missing".
    assert_eq!(stats(&out)["warnings"], 0);
}

#[test]
fn a_corrupt_evtx_chunk_is_reported_and_the_next_chunk_read() {
    let Some(shared) = shared() else { return };
    let data = shared.join("sigma/regression_data/rules/windows/process_creation");
    let mut samples: Vec<PathBuf> =
        walk(&data).into_iter().filter(|p| p.extension().is_some_and(|e| e == "evtx")).collect();
    samples.sort();
    let (a, b) = (std::fs::read(&samples[0]).unwrap(), std::fs::read(&samples[1]).unwrap());
    // Header and first chunk of one file (its records overwritten), then the
    // chunk of another: the evtx reader finds chunks by position.
    let mut spliced = a[..4096 + 65536].to_vec();
    spliced[4096 + 600..4096 + 4000].fill(0x41);
    spliced.extend_from_slice(&b[4096..4096 + 65536]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.evtx");
    std::fs::write(&bad, &spliced).unwrap();
    let rule = write(dir.path(), "r.yml", RULE);
    let out = sigmata().args(["scan", "--format", "none", "--stats", "-r"]).arg(&rule).arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.evtx:1: skipped: unreadable evtx record"), "{err}");
    let s = stats(&out);
    assert_eq!(s["malformed_lines"], 1, "{s}");
    assert!(s["events"].as_u64().unwrap() >= 1, "the second chunk was read: {s}");
    // A file cut inside a chunk: the whole chunks are read, the cut is an error.
    let cut = dir.path().join("cut.evtx");
    std::fs::write(&cut, &b[..4096 + 30000]).unwrap();
    let out = sigmata().args(["scan", "--format", "none", "-r"]).arg(&rule).arg(&cut).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"), "{}", String::from_utf8_lossy(&out.stderr));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

const SYSTEM_WHOAMI_RULE: &str = r#"title: Whoami As System
id: 1b1c5c2e-6d0e-4d0f-9a53-1f4f0b6d2a10
level: high
tags: [attack.discovery]
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\whoami.exe'
        ParentImage|endswith: '\cmd.exe'
        User|contains: ['AUTHORI', 'AUTORI']
        IntegrityLevel: System
    no_pe_metadata:
        OriginalFileName: null
    condition: selection and no_pe_metadata
"#;

/// A Security 4688 event as the event log renders it.
const SEC_4688: &str = r#"{"EventID":4688,"Channel":"Security","Computer":"PC01.corp.example","SubjectUserSid":"S-1-5-18","SubjectUserName":"PC01$","SubjectDomainName":"CORP","SubjectLogonId":"0x3e7","NewProcessId":"0x1a2c","NewProcessName":"C:\\Windows\\System32\\whoami.exe","TokenElevationType":"%%1936","ProcessId":"0x10f0","CommandLine":"whoami /all","TargetUserSid":"S-1-0-0","TargetUserName":"-","TargetDomainName":"-","TargetLogonId":"0x0","ParentProcessName":"C:\\Windows\\System32\\cmd.exe","MandatoryLabel":"S-1-16-16384"}"#;

#[test]
fn security_4688_events_are_read_as_sysmon_events_and_other_events_are_routed_away() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", SYSTEM_WHOAMI_RULE);
    let logon = r#"{"EventID":4624,"Channel":"Security","SubjectUserSid":"S-1-5-18","TargetUserName":"alice"}"#;
    let network = r#"{"EventID":3,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\whoami.exe","User":"NT AUTHORITY\\SYSTEM"}"#;
    let sysmon = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\whoami.exe","ParentImage":"C:\\Windows\\System32\\cmd.exe","User":"NT AUTHORITY\\SYSTEM","IntegrityLevel":"System"}"#;
    let user_4688 = SEC_4688.replace("S-1-5-18", "S-1-5-21-1-2-3-1001").replace("PC01$", "alice");
    let events = write(dir.path(), "mixed.jsonl", &format!("{SEC_4688}\n{logon}\n{network}\n{sysmon}\n{user_4688}\n"));
    let out = sigmata()
        .args([
            "scan",
            "--stats",
            "--fields",
            "Image,User,IntegrityLevel,ProcessId,ParentProcessId,OriginalFileName",
            "-r",
        ])
        .arg(&rule)
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout_lines(&out);
    assert_eq!(lines.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 4]);
    assert_eq!(
        lines[0]["event"],
        serde_json::json!({"Image": "C:\\Windows\\System32\\whoami.exe", "User": "NT AUTHORITY\\SYSTEM",
            "IntegrityLevel": "System", "ProcessId": "6700", "ParentProcessId": "4336"})
    );
    let s = stats(&out);
    assert_eq!(s["skipped_not_process_creation"], 2, "{s}");
    assert_eq!(s["events_by_kind"], serde_json::json!({"sysmon": 1, "security_4688": 2, "other": 0}));
    // 4688 has no OriginalFileName: every event lacked it.
    let never: Vec<&str> =
        s["fields_never_seen"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(never, ["OriginalFileName"]);

    // Without mapping the 4688 event has no Image, User or IntegrityLevel.
    let out = sigmata().args(["scan", "-p", "none", "-r"]).arg(&rule).arg(&events).output().unwrap();
    assert_eq!(stdout_lines(&out).iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [4]);
    // An explicit pipeline applies to every event.
    let out = sigmata().args(["scan", "-p", "security-4688", "-r"]).arg(&rule).arg(&events).output().unwrap();
    assert_eq!(stdout_lines(&out).iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1]);
    // Rules of every logsource: nothing is routed away.
    let plain = rule_file(dir.path(), "plain.yml", RULE);
    let out = sigmata()
        .args(["scan", "--all-logsources", "--format", "none", "--stats", "-r"])
        .arg(&plain)
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(
        (stats(&out)["skipped_not_process_creation"].as_u64(), stats(&out)["matched_events"].as_u64()),
        (Some(0), Some(4))
    );
}

#[test]
fn ecs_documents_nested_dotted_and_winlogbeat() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(
        dir.path(),
        "r.yml",
        "title: Whoami Under A Shell\nid: 2c7a4d8e-1111-4f0f-8e0e-3c2b1a0f9e8d\nlogsource: {category: process_creation}\ndetection:\n    selection:\n        Image|endswith: ['/whoami', '\\whoami.exe']\n        ParentImage|endswith: ['/bash', '/zsh', '\\cmd.exe']\n    condition: selection\n",
    );
    let nested = r#"{"@timestamp":"2024-05-01T10:00:00Z","event":{"category":["process"],"type":["start"]},"process":{"executable":"/usr/bin/whoami","command_line":"whoami","name":"whoami","parent":{"executable":"/bin/bash","command_line":"bash"}},"user":{"name":"root"},"host":{"name":"mac1"}}"#;
    let dotted = r#"{"process.executable":"/usr/bin/whoami","process.command_line":"whoami","process.parent.executable":"/bin/zsh","user.name":"alice","host.os.family":"macos"}"#;
    let winlogbeat = r#"{"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":1,"event_data":{"IntegrityLevel":"High","User":"CORP\\bob","ParentImage":"C:\\Windows\\System32\\cmd.exe"}},"process":{"executable":"C:\\Windows\\System32\\whoami.exe","command_line":"whoami"}}"#;
    let network = r#"{"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":3},"process":{"executable":"/usr/bin/whoami","parent":{"executable":"/bin/bash"}}}"#;
    let events = write(dir.path(), "ecs.jsonl", &format!("{nested}\n{dotted}\n{winlogbeat}\n{network}\n"));
    let out = sigmata()
        .args(["scan", "-p", "ecs", "--stats", "--fields", "Image,User,IntegrityLevel", "-r"])
        .arg(&rule)
        .arg(&events)
        .output()
        .unwrap();
    let lines = stdout_lines(&out);
    assert_eq!(lines.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(lines[0]["event"], serde_json::json!({"Image": "/usr/bin/whoami", "User": "root"}));
    assert_eq!(lines[1]["event"]["User"], "alice");
    assert_eq!(lines[2]["event"]["IntegrityLevel"], "High");
    assert_eq!(stats(&out)["skipped_not_process_creation"], 1);
    // The raw documents have none of the rule's fields.
    let out = sigmata().args(["scan", "-p", "none", "-r"]).arg(&rule).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn auditd_records_are_grouped_into_exec_events() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(
        dir.path(),
        "r.yml",
        "title: Awk Printing Fields\nid: 3d8b5e9f-2222-4a1a-9f1f-4d3c2b1a0f9e\nlogsource: {category: process_creation, product: linux}\ndetection:\n    selection:\n        Image|endswith: '/awk'\n        CommandLine|contains: 'print $2'\n        CurrentDirectory: '/home/user one'\n    condition: selection\n",
    );
    let records = [
        r#"{"type":"SYSCALL","msg":"audit(1551487501.462:893)","arch":"c000003e","syscall":"59","success":"yes","exit":"0","a0":"55d1","a1":"55d2","items":"2","ppid":"1200","pid":"1201","auid":"1000","uid":"1000","comm":"awk","exe":"/usr/bin/awk","key":"(null)"}"#,
        r#"{"type":"EXECVE","msg":"audit(1551487501.462:893)","argc":"2","a0":"awk","a1":"7B7072696E742024327D"}"#,
        r#"{"type":"CWD","msg":"audit(1551487501.462:893)","cwd":"2F686F6D652F75736572206F6E65"}"#,
        r#"{"type":"PATH","msg":"audit(1551487501.462:893)","item":"0","name":"/usr/bin/awk","nametype":"NORMAL"}"#,
        r#"{"type":"PROCTITLE","msg":"audit(1551487501.462:893)","proctitle":"61776B007B7072696E742024327D"}"#,
        r#"{"type":"SYSCALL","msg":"audit(1551487501.470:894)","syscall":"257","success":"yes","exe":"/usr/bin/awk","pid":"1201"}"#,
        r#"{"type":"PATH","msg":"audit(1551487501.470:894)","item":"0","name":"/etc/passwd"}"#,
        // A record a shipper already merged (Microsoft auoms).
        r#"{"EventType":"AUOMS_EXECVE","syscall":"execve","a0":"7fcd3bdfb8e0","a1":"7fcd3027b7b0","pid":"17790","ppid":"1340","user":"tomcat","uid":"1001","exe":"/usr/bin/awk","cwd":"/home/user one","cmdline":"awk '{print $2}' /etc/hosts"}"#,
    ];
    let events = write(dir.path(), "audit.jsonl", &(records.join("\n") + "\n"));
    let out = sigmata().args(["scan", "-p", "auditd", "--stats", "-r"]).arg(&rule).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout_lines(&out);
    assert_eq!(lines.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 8]);
    assert_eq!(lines[0]["event"]["CommandLine"], "awk {print $2}");
    assert_eq!(lines[0]["event"]["EXECVE"]["a1"], "7B7072696E742024327D");
    let s = stats(&out);
    // 8 lines: two exec events, one open() group skipped, 5 records folded into others.
    assert_eq!(
        (s["events"].as_u64(), s["skipped_not_process_creation"].as_u64(), s["merged_records"].as_u64()),
        (Some(2), Some(1), Some(5)),
        "{s}"
    );
}

#[test]
fn pysigma_pipeline_files_map_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    let pipeline = write(
        dir.path(),
        "edr.yml",
        "name: EDR field names\npriority: 10\ntransformations:\n  - id: edr_fields\n    type: field_name_mapping\n    mapping:\n      Image: proc.path\n      CommandLine: [proc.cmd, proc.cmdline]\n",
    );
    let events = write(
        dir.path(),
        "edr.jsonl",
        "{\"proc\": {\"path\": \"C:\\\\Windows\\\\whoami.exe\"}}\n{\"Image\": \"C:\\\\Windows\\\\whoami.exe\"}\n",
    );
    let out = sigmata().args(["scan", "-p"]).arg(&pipeline).arg("-r").arg(&rule).arg(&events).output().unwrap();
    assert_eq!(stdout_lines(&out).iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1]);
    let bad = write(dir.path(), "bad.yml", "transformations:\n  - type: drop_detection_item\n");
    let out = sigmata().args(["scan", "-p"]).arg(&bad).arg("-r").arg(&rule).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drop_detection_item"));
}

#[test]
fn output_is_the_same_bytes_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    let mut text = String::new();
    for i in 0..6000 {
        match i % 7 {
            0 => text.push_str(&SEC_4688.replace("whoami /all", &format!("whoami /{i}"))),
            1 | 4 => text.push_str(&WHOAMI.replace("/all", &format!("/{i}"))),
            2 if i % 500 == 2 => text.push_str("not json"),
            3 if i % 300 == 3 => text.push_str(""),
            _ => text.push_str(CMD),
        }
        text.push('\n');
    }
    let events = write(dir.path(), "many.jsonl", &text);
    let run = |args: &[&str]| {
        let out = sigmata().args(["scan", "-r"]).arg(&rule).args(args).arg(&events).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let one = run(&["-j", "1"]);
    let matching = (0..6000).filter(|i| matches!(i % 7, 0 | 1 | 4)).count();
    assert_eq!(one.0.iter().filter(|b| **b == b'\n').count(), matching, "three of every seven lines match");
    assert!(one.1.contains("many.jsonl:3503: skipped: invalid JSON"), "{}", one.1);
    for args in [&["-j", "2"][..], &["-j", "4"], &["-j", "3", "--flush-every", "7"], &["-j", "2", "--line-buffered"]] {
        assert!(run(args) == one, "output differs with {args:?}");
    }
}

#[test]
fn stdin_matches_appear_before_the_writer_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sigmata"))
        .args(["scan", "-r"])
        .arg(&rule)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    // A slow writer: one event at a time, waiting for each match.
    for i in 1..=3 {
        writeln!(stdin, "{CMD}\n{}", WHOAMI.replace("/all", &format!("/{i}"))).unwrap();
        stdin.flush().unwrap();
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("a match while stdin is still open");
        let m: Value = serde_json::from_str(&line).unwrap();
        assert_eq!((m["source"].as_str(), m["line"].as_u64()), (Some("-"), Some(2 * i)));
        assert_eq!(m["event"]["CommandLine"], format!("whoami /{i}"));
    }
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn every_line_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    let long = format!("{{\"Image\": \"{}\\\\whoami.exe\"}}", "x".repeat(5000));
    let mut bytes = Vec::new();
    for line in [WHOAMI, "", "{\"a\": ", "[1, 2]", &long, CMD, "\"text\""] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"Image\": \"\xff\"}\n");
    bytes.extend_from_slice(WHOAMI.as_bytes()); // no final newline
    let events = dir.path().join("bad.jsonl");
    std::fs::write(&events, &bytes).unwrap();
    let out =
        sigmata().args(["scan", "--stats", "--max-line-bytes", "1000", "-r"]).arg(&rule).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = events.display();
    for want in [
        format!("{p}:3: skipped: invalid JSON"),
        format!("{p}:4: skipped: not a JSON object (found an array)"),
        format!("{p}:5: skipped: line of {} bytes is longer than --max-line-bytes 1000", long.len()),
        format!("{p}:7: skipped: not a JSON object (found a string)"),
        format!("{p}:8: skipped: invalid UTF-8 at byte 11"),
    ] {
        assert!(err.contains(&want), "{want} not in {err}");
    }
    let s = stats(&out);
    assert_eq!(
        [&s["events"], &s["matched_events"], &s["unmatched_events"], &s["malformed_lines"], &s["empty_lines"]],
        [3, 2, 1, 5, 1]
    );
}

#[test]
fn exit_codes_follow_grep() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    let hit = write(dir.path(), "hit.jsonl", &format!("{WHOAMI}\n"));
    let miss = write(dir.path(), "miss.jsonl", &format!("{CMD}\n"));
    sigmata().args(["scan", "--format", "none", "-r"]).arg(&rule).arg(&hit).assert().code(0);
    sigmata().args(["scan", "--format", "none", "-r"]).arg(&rule).arg(&miss).assert().code(1);
    // An unreadable input is an error even when another matched; the rest is still scanned.
    let out = sigmata().args(["scan", "-r"]).arg(&rule).arg(dir.path().join("nope.jsonl")).arg(&hit).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout_lines(&out).len(), 1);
    sigmata().args(["scan", "-p", "no-such-pipeline", "-r"]).arg(&rule).arg(&hit).assert().code(2);
    let help = sigmata().args(["scan", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit status: 0 if any event matched, 1 if none did, 2 on errors"), "{help}");
}

#[test]
fn output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    let events = write(dir.path(), "e.jsonl", &format!("{WHOAMI}\n{CMD}\n{WHOAMI}\n"));
    // Piped stdout: JSONL by default, with the rule's tags and file.
    let out = sigmata().args(["scan", "-r"]).arg(&rule).arg(&events).output().unwrap();
    let lines = stdout_lines(&out);
    assert_eq!(lines[0]["tags"], serde_json::json!(["attack.discovery", "attack.t1033"]));
    assert_eq!(lines[0]["rule_path"], rule.display().to_string());
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["rule_id", "rule_title", "level", "tags", "rule_path", "source", "line", "event"]);
    let text = |args: &[&str]| {
        let out =
            sigmata().args(["scan", "--format", "text", "-r"]).arg(&rule).args(args).arg(&events).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!text(&[]).contains('\x1b'), "no colour when stdout is not a terminal");
    assert!(text(&["--color", "always"]).contains("\x1b[33mmedium"));
    let out = sigmata().args(["scan", "--format", "summary", "-r"]).arg(&rule).arg(&events).output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("events: 3 (2 matched, 1 unmatched)"), "{summary}");
    assert!(summary.contains("medium               2"), "{summary}");
    assert!(
        summary.contains("       2  medium        Whoami Execution [7d6f3a52-90a4-4f57-8b0a-6f2f7b1c5e01]"),
        "{summary}"
    );
}

#[test]
fn lines_longer_than_a_read_are_skipped_as_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let rule = rule_file(dir.path(), "r.yml", RULE);
    // 600 kB, more than one read: the reader drops it as it goes.
    let long = format!("{{\"CommandLine\": \"{}\"}}", "A".repeat(600_000));
    let text = format!("{WHOAMI}\n{long}\n{WHOAMI}\n{long}");
    let events = write(dir.path(), "long.jsonl", &text);
    for input in [events.clone(), {
        let gz = dir.path().join("long.jsonl.gz");
        std::fs::write(&gz, gzip(text.as_bytes())).unwrap();
        gz
    }] {
        let out = sigmata()
            .args(["scan", "--stats", "--max-line-bytes", "1000", "-r"])
            .arg(&rule)
            .arg(&input)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        for line in [2, 4] {
            let want = format!(
                "{}:{line}: skipped: line of {} bytes is longer than --max-line-bytes 1000",
                input.display(),
                long.len()
            );
            assert!(err.contains(&want), "{want} not in {err}");
        }
        assert_eq!(stdout_lines(&out).iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(stats(&out)["malformed_lines"], 2);
    }
}
