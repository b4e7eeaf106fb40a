//! The command line: exit codes, output formats, malformed input accounting.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

// test, explain, check --cost and lints, scan --explain and --profile.
mod evtx_edges;
mod nats_support;
mod serve;
mod serve_corr;
mod streams;
mod tooling;
// Correlation rules through scan and check.
mod correlation;
// sigmata compile, and --bundle instead of -r.
mod bundle;

const RULE: &str = r#"title: Whoami Execution
id: 7d6f3a52-90a4-4f57-8b0a-6f2f7b1c5e01
level: medium
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
"#;

fn sigmata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigmata"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).and_then(|mut f| f.write_all(text.as_bytes())).expect("temp file is writable");
    p
}

fn stdout_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn check_exit_codes_follow_the_load_result() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yml", RULE);
    sigmata().args(["check", "-r"]).arg(&good).assert().code(0);
    let bad = write(dir.path(), "bad.yml", &RULE.replace("condition: selection", "condition: selection and"));
    let out = sigmata().args(["check", "-r"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad.yml:9:") && text.contains("7d6f3a52-90a4-4f57-8b0a-6f2f7b1c5e01"), "{text}");
    assert!(text.contains("0 rules loaded, 1 refused"), "{text}");
    sigmata().args(["check", "-r", "/no/such/rules"]).assert().code(2);
    sigmata().args(["check", "--frobnicate"]).assert().code(2);
}

#[test]
fn check_json_lists_refused_and_not_applicable_rules() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yml", RULE);
    write(dir.path(), "b.yml", &RULE.replace("Image|endswith", "Image|endwith"));
    write(dir.path(), "c.yml", &RULE.replace("category: process_creation", "category: registry_set"));
    let out = sigmata().args(["check", "--format", "json", "-r"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["rules_loaded"], 1);
    assert_eq!(doc["rules_refused"], 1);
    assert_eq!(doc["rules_not_applicable"], 1);
    let refused = &doc["refused"][0];
    assert_eq!(refused["kind"], "modifier");
    assert_eq!(refused["line"], 8);
    assert!(refused["message"].as_str().unwrap().contains("did you mean 'endswith'"));
}

/// `check` loads a Sigma 1.x collection rule by rule and warns that the
/// file uses the 1.x form (a warning: the exit code is 0 unless
/// `--deny-warnings`).
#[test]
fn check_warns_about_a_sigma_1_collection_and_loads_its_rules() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/sigma1_collection.yml");
    let out = sigmata().args(["check", "-r"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let warning = text.lines().find(|l| l.starts_with("warning: ")).unwrap_or_else(|| panic!("no warning: {text}"));
    assert!(warning.contains("sigma1_collection.yml:5:"), "{warning}");
    assert!(warning.contains("Sigma 1.x rule collection"), "{warning}");
    assert!(text.contains("3 rules loaded, 0 refused"), "{text}");
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(&file).assert().code(1);
}

#[test]
fn scan_prints_one_jsonl_object_per_match_and_accounts_for_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "whoami.yml", RULE);
    let events = write(
        dir.path(),
        "events.jsonl",
        concat!(
            "{\"Image\": \"C:\\\\Windows\\\\System32\\\\whoami.exe\", \"CommandLine\": \"whoami /all\"}\n",
            "\n",
            "{\"Image\": \"C:\\\\Windows\\\\System32\\\\cmd.exe\"}\n",
            "not json\n",
            "[1, 2]\n",
            "{\"Image\": \"C:\\\\x\\\\WHOAMI.EXE\"}\r\n",
        ),
    );
    let out = sigmata().args(["scan", "--stats", "-r"]).arg(&rule).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["rule_id"], "7d6f3a52-90a4-4f57-8b0a-6f2f7b1c5e01");
    assert_eq!(lines[0]["rule_title"], "Whoami Execution");
    assert_eq!(lines[0]["level"], "medium");
    assert_eq!(lines[0]["source"], events.display().to_string());
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["event"]["CommandLine"], "whoami /all");
    assert_eq!(lines[1]["line"], 6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:4: skipped: invalid JSON", events.display())), "{stderr}");
    assert!(stderr.contains(&format!("{}:5: skipped: not a JSON object", events.display())), "{stderr}");
    let stats: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(stats["events"], 3);
    assert_eq!(stats["matched_events"], 2);
    assert_eq!(stats["matches"], 2);
    assert_eq!(stats["malformed_lines"], 2);
    assert_eq!(stats["empty_lines"], 1);
    assert_eq!(stats["rules_loaded"], 1);
    assert_eq!(stats["rules_refused"], 0);
    assert!(stats["elapsed_s"].as_f64().is_some());
}

#[test]
fn scan_reads_stdin_and_exits_one_when_nothing_matched() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "whoami.yml", RULE);
    sigmata()
        .args(["scan", "-r"])
        .arg(&rule)
        .write_stdin("{\"Image\": \"C:\\\\cmd.exe\"}\n")
        .assert()
        .code(1)
        .stdout("");
    let out = sigmata()
        .args(["scan", "--format", "text", "-r"])
        .arg(&rule)
        .arg("-")
        .write_stdin("{\"Image\": \"C:\\\\whoami.exe\"}\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-:1: medium        Whoami Execution [7d6f3a52-90a4-4f57-8b0a-6f2f7b1c5e01]\n"
    );
}

#[test]
fn scan_exits_two_on_unreadable_input_and_no_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "whoami.yml", RULE);
    sigmata().args(["scan", "-r"]).arg(&rule).arg(dir.path().join("missing.jsonl")).assert().code(2);
    let other = write(dir.path(), "reg.yml", &RULE.replace("process_creation", "registry_set"));
    let out = sigmata().args(["scan", "-r"]).arg(&other).write_stdin("{}\n").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rule to evaluate"));
}

#[test]
fn scan_format_none_prints_nothing_but_keeps_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "whoami.yml", RULE);
    sigmata()
        .args(["scan", "--format", "none", "-r"])
        .arg(&rule)
        .write_stdin("{\"Image\": \"C:\\\\whoami.exe\"}\n")
        .assert()
        .code(0)
        .stdout("");
}

#[test]
fn scan_reads_evtx_dump_json_and_flattens_it() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "whoami.yml", RULE);
    let record = r##"{
  "Event": {
    "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 1},
    "EventData": {"Image": "C:\\Windows\\whoami.exe"}
  }
}
{
  "Event": {"System": {"EventID": 1}, "EventData": {"Image": "C:\\Windows\\cmd.exe"}}
}
"##;
    let events = write(dir.path(), "sample.json", record);
    let out = sigmata().args(["scan", "-r"]).arg(&rule).arg(&events).output().unwrap();
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["event"]["Event"]["EventData"]["Image"], "C:\\Windows\\whoami.exe");
}

#[test]
fn scan_without_rules_uses_the_embedded_pack() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/sample.jsonl");
    let out = sigmata().args(["scan", "--stats", "--format", "none"]).arg(&sample).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert!(stats["rules_loaded"].as_u64().unwrap() >= 5, "{stats}");
    assert_eq!(stats["rules_refused"], 0);
    assert!(stats["matches"].as_u64().unwrap() >= 5, "{stats}");
}

#[test]
fn test_command_runs_sigmahq_style_regression_tests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("rules/windows")).unwrap();
    std::fs::create_dir_all(root.join("regression_data/whoami")).unwrap();
    let rule = format!("{RULE}regression_tests_path: regression_data/whoami/info.yml\n");
    write(&root.join("rules/windows"), "whoami.yml", &rule);
    write(
        &root.join("regression_data/whoami"),
        "info.yml",
        "regression_tests_info:\n  - name: Positive\n    type: evtx\n    match_count: 1\n    path: regression_data/whoami/x.evtx\n  - name: Needs two\n    type: evtx\n    match_count: 2\n    path: regression_data/whoami/x.evtx\n",
    );
    write(
        &root.join("regression_data/whoami"),
        "x.json",
        "{\"Event\": {\"System\": {\"EventID\": 1}, \"EventData\": {\"Image\": \"C:\\\\whoami.exe\"}}}\n{\"Event\": {\"System\": {\"EventID\": 1}, \"EventData\": {\"Image\": \"C:\\\\cmd.exe\"}}}\n",
    );
    let out = sigmata().args(["test", "-r"]).arg(root.join("rules")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL") && text.contains("Needs two: matched 1 of 2 events, expected at least 2"), "{text}");
    assert!(text.contains("regression tests: 1 passed, 1 failed"), "{text}");
    // The failure explains the first event the rule did not match.
    assert!(
        text.contains("    first event not matched (line 2):\n    rule 'Whoami Execution' (7d6f3a52-90a4-4f57-8b0a-6f2f7b1c5e01): did not match\n"),
        "{text}"
    );
    assert!(
        text.contains("Image|endswith: false: Image 'C:\\cmd.exe' contains '.exe' but the rule wants it to end with '\\whoami.exe'"),
        "{text}"
    );
    // `.jsonl` samples are read line by line.
    write(
        &root.join("regression_data/whoami"),
        "y.jsonl",
        "{\"Image\": \"C:\\\\whoami.exe\"}\n{\"Image\": \"D:\\\\WHOAMI.exe\"}\n",
    );
    write(
        &root.join("regression_data/whoami"),
        "info.yml",
        "regression_tests_info:\n  - name: Lines\n    match_count: 2\n    path: regression_data/whoami/y.jsonl\n",
    );
    let out = sigmata().args(["test", "-r"]).arg(root.join("rules")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.ends_with("regression tests: 1 passed, 0 failed, from 1 rules with tests; 0 rules refused\n"),
        "{text}"
    );
}

#[test]
fn debug_ir_shows_modifiers_compiled_away() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(
        dir.path(),
        "r.yml",
        &RULE.replace("Image|endswith: '\\whoami.exe'", "CommandLine|contains|windash: ' -x'"),
    );
    let out = sigmata().args(["debug", "ir"]).arg(&rule).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CommandLine contains \" -x\"") && text.contains("CommandLine contains \" /x\""), "{text}");
    assert!(text.contains("CommandLine contains \" \u{2015}x\""), "{text}");
}

/// The bad-input matrix through `sigmata scan`, from a file and from stdin:
/// every line is counted exactly once, as an event, a malformed line or an
/// empty line. (The engine-level matrix is `tests/integration/bad_input.rs`.)
#[test]
fn bad_input_matrix() {
    let whoami = br#"{"Image":"C:\\Windows\\whoami.exe"}"#;
    let ten_mb = format!(r#"{{"Image":"{}\\whoami.exe"}}"#, "a".repeat(10 << 20));
    let lines: Vec<(&str, Vec<u8>)> = vec![
        ("BOM on the first line", [&b"\xEF\xBB\xBF"[..], whoami].concat()),
        ("CRLF", [&whoami[..], b"\r"].concat()),
        ("empty", Vec::new()),
        ("blank", b"  \t ".to_vec()),
        ("malformed", br#"{"Image": }"#.to_vec()),
        ("invalid UTF-8", b"{\"Image\":\"\xff\xfe\\whoami.exe\"}".to_vec()),
        ("raw NUL", b"{\"Image\":\"a\0b\"}".to_vec()),
        ("escaped NUL", br#"{"Image":"\u0000x.exe"}"#.to_vec()),
        ("array", b"[1]".to_vec()),
        ("string", br#""whoami""#.to_vec()),
        ("10 MB line", ten_mb.into_bytes()),
        ("100,000 '[' in a value", format!(r#"{{"x":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000)).into_bytes()),
        ("100,000 '['", "[".repeat(100_000).into_bytes()),
        ("BOM on a later line", [&b"\xEF\xBB\xBF"[..], whoami].concat()),
    ];
    let mut input = Vec::new();
    for (_, l) in &lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "rule.yml", RULE);
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &input).unwrap();
    let from_file = sigmata().args(["scan", "--stats", "--format", "none", "-r"]).arg(&rule).arg(&events).output();
    let from_stdin =
        sigmata().args(["scan", "--stats", "--format", "none", "-r"]).arg(&rule).write_stdin(input.clone()).output();
    for out in [from_file.unwrap(), from_stdin.unwrap()] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stats: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
        // Events: the two first lines, the escaped NUL and the 10 MB line;
        // three of them match. Empty: two. Malformed: the other eight.
        assert_eq!(stats["events"], 4, "{stats}");
        assert_eq!(stats["matched_events"], 3, "{stats}");
        assert_eq!(stats["empty_lines"], 2, "{stats}");
        assert_eq!(stats["malformed_lines"], 8, "{stats}");
        let total =
            ["events", "empty_lines", "malformed_lines"].iter().map(|k| stats[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(total as usize, lines.len());
        // Each malformed line is reported with its line number.
        for n in [5, 6, 7, 9, 10, 12, 13, 14] {
            assert!(stderr.contains(&format!(":{n}: skipped: ")), "line {n} not reported: {stderr}");
        }
    }
}

#[test]
fn scan_does_not_parse_rule_files_of_other_logsources_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yml", RULE);
    // Another logsource, and broken YAML: scan never parses it (check does).
    write(
        dir.path(),
        "b.yml",
        &RULE.replace("category: process_creation", "category: registry_set").replace("detection:", "detection: ["),
    );
    // Mentions a correlation: always read, even without the logsource.
    write(
        dir.path(),
        "c.yml",
        &RULE
            .replace("category: process_creation", "category: registry_set")
            .replace("title:", "description: a correlation base\ntitle:")
            .replace("7d6f3a52", "8d6f3a52"),
    );
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, "{\"Image\":\"C:\\\\Windows\\\\System32\\\\whoami.exe\"}\n").unwrap();
    let out =
        sigmata().args(["scan", "--format", "none", "--stats", "-r"]).arg(dir.path()).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(stats["matches"], 1);
    assert_eq!(stats["rules_loaded"], 1);
    assert_eq!(stats["rules_refused"], 0);
    assert_eq!(stats["rules_not_applicable"], 1);
    assert_eq!(stats["rule_files_not_parsed"], 1);
    let out = sigmata().args(["check", "--format", "json", "-r"]).arg(dir.path()).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["rules_refused"], 1, "check reads every file");
}
