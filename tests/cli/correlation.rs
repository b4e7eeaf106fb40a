//! `sigmata scan` with correlation rules: alert objects, thread-count
//! independence, generate, --stats counters, --max-lateness, --time-field.

use super::{sigmata, stdout_lines, write};

pub(super) const PACK: &str = r#"title: Whoami
id: 0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0001
name: whoami
logsource: {category: process_creation, product: windows}
detection: {sel: {Image|endswith: '\whoami.exe'}, condition: sel}
level: low
---
title: Net
id: 0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0002
name: net
logsource: {category: process_creation, product: windows}
detection: {sel: {Image|endswith: '\net.exe'}, condition: sel}
---
title: Cmd
id: 0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0003
logsource: {category: process_creation, product: windows}
detection: {sel: {Image|endswith: '\cmd.exe'}, condition: sel}
---
title: Recon burst
id: 0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0004
level: high
tags: [attack.discovery]
correlation:
  type: temporal
  rules: [whoami, net]
  group-by: [User]
  timespan: 5m
"#;

pub(super) fn events(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let img = ["whoami", "net", "cmd"][i % 3];
        let user = format!("u{}", i % 7);
        let (m, sec) = ((i / 60) % 60, i % 60);
        s.push_str(&format!(
            "{{\"Image\":\"C:\\\\w\\\\{img}.exe\",\"User\":\"{user}\",\"UtcTime\":\"2025-01-01 10:{m:02}:{sec:02}.000\"}}\n"
        ));
    }
    s
}

#[test]
fn scan_prints_correlation_alerts_with_group_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", PACK);
    let input = write(
        dir.path(),
        "e.jsonl",
        concat!(
            "{\"Image\":\"C:\\\\w\\\\whoami.exe\",\"User\":\"bob\",\"UtcTime\":\"2025-01-01 10:00:00.000\"}\n",
            "{\"Image\":\"C:\\\\w\\\\cmd.exe\",\"User\":\"bob\",\"UtcTime\":\"2025-01-01 10:00:30.000\"}\n",
            "{\"Image\":\"C:\\\\w\\\\net.exe\",\"User\":\"bob\",\"UtcTime\":\"2025-01-01 10:01:00.000\"}\n",
        ),
    );
    let out = sigmata().args(["scan", "--format", "jsonl", "--stats", "-r"]).arg(&rules).arg(&input).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout_lines(&out);
    // The cmd match is reported; whoami and net feed the correlation only.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["rule_title"], "Cmd");
    let a = &lines[1];
    assert_eq!(a["rule_id"], "0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0004");
    assert_eq!(a["level"], "high");
    assert_eq!(a["tags"][0], "attack.discovery");
    let c = &a["correlation"];
    assert_eq!(c["type"], "temporal");
    assert_eq!(c["group"]["User"], "bob");
    assert_eq!(c["value"], 2);
    assert_eq!(c["first_time"], "2025-01-01T10:00:00Z");
    assert_eq!(c["last_time"], "2025-01-01T10:01:00Z");
    assert_eq!(c["events"][0]["line"], 1);
    assert_eq!(c["events"][1]["line"], 3);
    assert_eq!(c["events"][1]["rule_id"], "0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0002");
    let stats: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stderr).trim()).unwrap();
    assert_eq!(stats["correlation"]["alerts"], 1);
    assert_eq!(stats["correlation"]["matches_not_generated"], 2);
    let text = sigmata().args(["scan", "--format", "text", "-r"]).arg(&rules).arg(&input).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Recon burst") && text.contains("User=bob"), "{text}");
}

#[test]
fn scan_gives_the_same_alerts_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", PACK);
    let input = write(dir.path(), "e.jsonl", &events(20_000));
    let run = |j: &str| {
        let out = sigmata()
            .args(["scan", "--format", "jsonl", "--flush-every", "100", "-j", j, "-r"])
            .arg(&rules)
            .arg(&input)
            .output()
            .unwrap();
        out.stdout
    };
    let one = run("1");
    let alerts = String::from_utf8_lossy(&one).lines().filter(|l| l.contains("\"correlation\"")).count();
    assert!(alerts > 10, "{alerts} alerts");
    assert_eq!(one, run("4"));
}

#[test]
fn scan_counts_late_and_timeless_events() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", PACK);
    let input = write(
        dir.path(),
        "e.jsonl",
        concat!(
            "{\"Image\":\"C:\\\\w\\\\whoami.exe\",\"User\":\"bob\",\"UtcTime\":\"2025-01-01 10:10:00.000\"}\n",
            "{\"Image\":\"C:\\\\w\\\\net.exe\",\"User\":\"bob\",\"UtcTime\":\"2025-01-01 10:09:00.000\"}\n",
            "{\"Image\":\"C:\\\\w\\\\net.exe\",\"User\":\"bob\"}\n",
            "{\"Image\":\"C:\\\\w\\\\net.exe\",\"User\":\"bob\",\"when\":\"2025-01-01T10:10:30Z\"}\n",
        ),
    );
    let stats = |args: &[&str]| {
        let out = sigmata()
            .args(["scan", "--format", "none", "--stats", "-r"])
            .arg(&rules)
            .args(args)
            .arg(&input)
            .output()
            .unwrap();
        let s: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stderr).trim()).unwrap();
        s["correlation"].clone()
    };
    let strict = stats(&["--max-lateness", "0s"]);
    assert_eq!(strict["events_too_late"], 1);
    assert_eq!(strict["events_without_time"], 2);
    assert_eq!(strict["alerts"], 0);
    let lenient = stats(&["--max-lateness", "5m"]);
    assert_eq!(lenient["events_too_late"], 0);
    assert_eq!(lenient["alerts"], 1);
    let other_field = stats(&["--time-field", "when", "--time-field", "UtcTime"]);
    assert_eq!(other_field["events_without_time"], 1);
    sigmata().args(["scan", "--max-lateness", "soon", "-r"]).arg(&rules).arg(&input).assert().code(2);
}

#[test]
fn check_counts_correlations_and_refuses_bad_ones_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", &PACK.replace("timespan: 5m", "timespan: 5 minutes"));
    let out = sigmata().args(["check", "-r"]).arg(&rules).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pack.yml:27:") && text.contains("bad timespan"), "{text}");
    assert!(text.contains("3 rules loaded, 1 refused"), "{text}");
    let good = write(dir.path(), "good.yml", PACK);
    let out = sigmata().args(["check", "-r"]).arg(&good).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 correlations"));
}

#[test]
fn test_runs_correlation_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "recon.yml", PACK);
    let ev = |img: &str, user: &str, t: &str| {
        format!("      - {{Image: 'C:\\w\\{img}.exe', User: {user}, UtcTime: '2025-01-01 10:{t}.000'}}\n")
    };
    let sidecar = format!(
        "correlation: Recon burst\ncorrelation_tests:\n  - name: fires\n    events:\n{}{}    alerts:\n      - {{User: bob}}\n  - name: quiet\n    events:\n{}    alerts: []\n",
        ev("whoami", "bob", "00:00"),
        ev("net", "bob", "01:00"),
        ev("whoami", "bob", "00:00"),
    );
    write(dir.path(), "recon.tests.yml", &sidecar);
    let out = sigmata().args(["test", "--verbose", "-r"]).arg(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("PASS") && text.contains("fires: alerts [{User: bob}]"), "{text}");
    // A wrong expectation fails and says what came out.
    write(dir.path(), "recon.tests.yml", &sidecar.replace("alerts: []", "alerts:\n      - {User: bob}"));
    let out = sigmata().args(["test", "-r"]).arg(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL") && text.contains("expected alerts [{User: bob}], got []"), "{text}");
}

#[test]
fn a_correlation_over_rules_of_another_logsource_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let pack = "title: failed logon\nname: failed_login\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4625}, condition: sel}\n---\ntitle: brute force\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n  group-by: [TargetUserName]\n  timespan: 10m\n  condition: {gte: 3}\n";
    let rules = write(dir.path(), "brute.yml", pack);
    let out = sigmata().args(["check", "-r"]).arg(&rules).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rule 'failed_login' is not evaluated here: its logsource"), "{text}");
    let input = write(
        dir.path(),
        "e.jsonl",
        &(0..3)
            .map(|i| {
                format!("{{\"EventID\":4625,\"TargetUserName\":\"admin\",\"@timestamp\":\"2025-01-01T10:0{i}:00Z\"}}\n")
            })
            .collect::<String>(),
    );
    let out = sigmata()
        .args(["scan", "--all-logsources", "--format", "jsonl", "-r"])
        .arg(&rules)
        .arg(&input)
        .output()
        .unwrap();
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["correlation"]["group"]["TargetUserName"], "admin");
    assert_eq!(lines[0]["correlation"]["value"], 3);
}

/// The pack with its correlation's `group-by`, `timespan` and `condition` replaced.
fn lint_pack(group_by: &str, timespan: &str, kind_and_condition: &str) -> String {
    PACK.replace("  type: temporal\n", &format!("{kind_and_condition}\n"))
        .replace("group-by: [User]", &format!("group-by: {group_by}"))
        .replace("timespan: 5m", &format!("timespan: {timespan}"))
}

#[test]
fn check_warns_of_a_group_by_field_the_rules_events_cannot_have() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yml", &lint_pack("\n    - User\n    - Usr", "5m", "  type: temporal"));
    let out = sigmata().args(["check", "-r"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let warns: Vec<&str> = text.lines().filter(|l| l.contains("[group-by-field-unknown]")).collect();
    // One per referenced rule, located on the `- Usr` line (line 28 of the file).
    assert_eq!(warns.len(), 2, "{text}");
    assert!(warns[0].contains("bad.yml:28:"), "{text}");
    assert!(warns[0].contains("'Usr'") && warns[0].contains("rule 'whoami'"), "{text}");
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(&bad).assert().code(1);
    // SigmaHQ-style fields of the taxonomy, and a field a rule reads, do not warn.
    for g in ["[User, Computer, ParentProcessId]", "[Image]"] {
        let ok = write(dir.path(), "ok.yml", &lint_pack(g, "5m", "  type: temporal"));
        let out = sigmata().args(["check", "--deny-warnings", "-r"]).arg(&ok).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{g}: {}", String::from_utf8_lossy(&out.stdout));
    }
    // Nor a field of a logsource whose schema sigmata does not know.
    let other =
        lint_pack("[Usr]", "5m", "  type: temporal").replace("category: process_creation", "category: dns_query");
    let other = write(dir.path(), "other.yml", &other);
    let out = sigmata().args(["check", "--all-logsources", "--format", "json", "-r"]).arg(&other).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["lints"].as_array().unwrap().iter().all(|l| l["lint"] != "group-by-field-unknown"), "{doc}");
}

#[test]
fn check_warns_of_timespans_and_thresholds_beyond_the_state_caps() {
    let dir = tempfile::tempdir().unwrap();
    let long = write(dir.path(), "long.yml", &lint_pack("[User]", "2d", "  type: temporal"));
    let out = sigmata().args(["check", "--format", "json", "-r"]).arg(&long).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lints = doc["lints"].as_array().unwrap();
    assert_eq!(lints.len(), 1, "{doc}");
    assert_eq!(lints[0]["lint"], "long-timespan");
    assert_eq!(lints[0]["line"], 27, "{doc}");
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(&long).assert().code(1);
    // Exactly one day is fine.
    let day = write(dir.path(), "day.yml", &lint_pack("[User]", "1d", "  type: temporal"));
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(&day).assert().code(0);
    // A threshold no group window can reach (10,000 events kept per group).
    let count = "  type: event_count\n  condition: {gte: 10001}";
    let big = write(dir.path(), "big.yml", &lint_pack("[User]", "1h", count));
    let out = sigmata().args(["check", "-r"]).arg(&big).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("big.yml:25: rule 'Recon burst'") && text.contains("[threshold-over-cap]"), "{text}");
    let fits = "  type: event_count\n  condition: {gt: 9999}";
    let fits = write(dir.path(), "fits.yml", &lint_pack("[User]", "1h", fits));
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(&fits).assert().code(0);
}

fn ev(image: &str, user: &str, time: &str) -> String {
    format!("{{\"Image\":\"C:\\\\w\\\\{image}.exe\",\"User\":\"{user}\",\"UtcTime\":\"2025-01-01 {time}.000\"}}\n")
}

#[test]
fn explain_a_correlation_says_what_each_group_had_and_lacked() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", PACK);
    // bob: whoami then net within 5m (fires); eve: whoami only, and a net 10 minutes later.
    let text = [
        ev("whoami", "bob", "10:00:00"),
        ev("whoami", "eve", "10:00:10"),
        ev("net", "bob", "10:01:00"),
        ev("net", "eve", "10:10:10"),
        ev("net", "bob", "09:00:00"),
    ]
    .concat();
    let input = write(dir.path(), "e.jsonl", &text);
    let out = sigmata().args(["explain", "--rule", "Recon burst", "-r"]).arg(&rules).arg(&input).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).replace(&format!("{}/", dir.path().display()), "");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "correlation 'Recon burst' (0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0004): fired", "{text}");
    assert!(text.contains("rule 'whoami' matched e.jsonl:1, e.jsonl:2\n"), "{text}");
    assert!(text.contains("rule 'net' matched e.jsonl:3, e.jsonl:4, e.jsonl:5\n"), "{text}");
    assert!(
        text.contains("group User=bob: fired; value 2 in the window 2025-01-01T09:56:00Z .. 2025-01-01T10:01:00Z"),
        "{text}"
    );
    assert!(text.contains("    e.jsonl:3 2025-01-01T10:01:00Z net\n"), "{text}");
    assert!(text.contains("group User=eve: did not fire; value 1"), "{text}");
    assert!(text.contains("missing: 1 of all 2 referenced rules"), "{text}");
    assert!(text.contains("missing: rule 'net' did not match in the window"), "{text}");
    assert!(text.contains("but they span 10m, more than the timespan 5m"), "{text}");
    assert!(text.contains("left out: e.jsonl:5: out of order beyond the lateness (1m)"), "{text}");
    // A lateness of two hours takes line 5 in.
    let out = sigmata()
        .args(["explain", "--format", "json", "--max-lateness", "2h", "--rule", "Recon burst", "-r"])
        .arg(&rules)
        .arg(&input)
        .output()
        .unwrap();
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let doc = &docs[0];
    assert_eq!(doc["fired"], true, "{doc}");
    assert_eq!(doc["left_out"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["groups"][0]["group"]["User"], "bob");
    assert_eq!(doc["groups"][0]["total_events"], 3);
    assert_eq!(doc["groups"][1]["group"]["User"], "eve");
    assert_eq!(doc["groups"][1]["fired"], false);
    assert_eq!(doc["groups"][1]["events"][0]["rules"][0], "whoami");
}

#[test]
fn explain_a_correlation_names_rules_that_never_matched() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "pack.yml", PACK);
    let input = write(dir.path(), "e.jsonl", &[ev("whoami", "bob", "10:00:00"), ev("cmd", "bob", "10:00:01")].concat());
    let out = sigmata().args(["explain", "--rule", "Recon burst", "-r"]).arg(&rules).arg(&input).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("correlation 'Recon burst' (0c8b5a44-1c1f-4b61-9a52-2f3d7b6e0004): did not fire\n"),
        "{text}"
    );
    assert!(text.contains("  rule 'net': matched no event\n"), "{text}");
    assert!(text.contains("  missing: rule 'net' never matched\n"), "{text}");
    // Without --rule, the rules are explained per event, then the correlation.
    let out = sigmata().args(["explain", "-r"]).arg(&rules).arg(&input).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rule 'Cmd'") && text.contains("correlation 'Recon burst'"), "{text}");
    assert_eq!(out.status.code(), Some(0));
}
