//! The rule author's tools: `test` with sidecars (text, JUnit, JSON),
//! `explain`, `check --cost` and lints, `scan --explain` and `--profile`.

use std::path::Path;

use serde_json::Value;

use super::{sigmata, write};

const ENCODED: &str = r#"title: Encoded PowerShell
id: 6f8e4a1c-0000-4000-8000-000000000001
level: high
logsource: {category: process_creation, product: windows}
detection:
    selection_img:
        Image|endswith: '\powershell.exe'
    selection_cli:
        CommandLine|contains|windash: ' -enc '
    filter_admin:
        User: 'CORP\admin'
    condition: all of selection_* and not filter_admin
"#;

const ENCODED_TESTS: &str = r#"# sidecar of enc.yml
true_positives:
  - name: encoded command with /enc
    reason: a slash works as well as a dash
    event: {Image: 'C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe', CommandLine: 'powershell /enc SQBFAFgA', User: 'CORP\alice'}
  - name: from a file
    file: samples/enc.jsonl
true_negatives:
  - name: encoding option
    reason: -Encoding is not -enc
    event: {Image: 'C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe', CommandLine: 'powershell -Encoding UTF8 -File a.ps1'}
  - name: the admin account is filtered
    event: {Image: 'C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe', CommandLine: 'powershell -enc SQBFAFgA', User: 'CORP\admin'}
"#;

const ENCODED_SAMPLES: &str = concat!(
    "{\"Image\": \"C:\\\\x\\\\powershell.exe\", \"CommandLine\": \"powershell -enc AAAA\"}\n",
    "\n",
    "{\"Image\": \"C:\\\\y\\\\POWERSHELL.EXE\", \"CommandLine\": \"powershell.exe \u{2013}enc BBBB\"}\n",
);

const ALLOWLIST: &str = r#"title: Unexpected Binary On A Critical Server
id: 11111111-2222-4333-8444-555555555555
level: high
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Computer|expand: '%critical_servers%'
    filter_allowed:
        Image|endswith: ['\svchost.exe', '\lsass.exe']
    condition: selection and not filter_allowed
"#;

const ALLOWLIST_TESTS: &str = r#"placeholders:
  critical_servers: ['DC01*', 'DC02']
true_positives:
  - name: unknown binary on a DC
    event: {Computer: DC01.corp.example, Image: 'C:\Temp\x.exe'}
true_negatives:
  - name: allowed binary
    reason: svchost is on the allow-list
    event: {Computer: DC02, Image: 'C:\Windows\System32\svchost.exe'}
  - name: not a critical server
    event: {Computer: WS17, Image: 'C:\Temp\x.exe'}
"#;

const PS: &str = r"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";

/// A rule folder with two rules and their sidecars, all passing.
fn passing_pack(dir: &Path) {
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    write(dir, "enc.yml", ENCODED);
    write(dir, "enc.tests.yml", ENCODED_TESTS);
    write(&dir.join("samples"), "enc.jsonl", ENCODED_SAMPLES);
    write(dir, "allow.yml", ALLOWLIST);
    write(dir, "allow.tests.yml", ALLOWLIST_TESTS);
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn test_runs_sidecars_including_placeholder_rules() {
    let dir = tempfile::tempdir().unwrap();
    passing_pack(dir.path());
    let out = sigmata().args(["test", "-v", "-r"]).arg(dir.path()).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let last: Vec<&str> = text.lines().rev().take(2).collect();
    assert_eq!(last[0], "regression tests: 7 passed, 0 failed, from 2 rules with tests; 0 rules refused");
    assert_eq!(last[1], "(0 SigmaHQ regression tests, 7 sidecar cases)");
    let enc = dir.path().join("enc.yml").display().to_string();
    let sidecar = dir.path().join("enc.tests.yml").display().to_string();
    assert!(
        text.contains(&format!(
            "PASS {enc} [6f8e4a1c-0000-4000-8000-000000000001] true positive 'from a file': all 2 events matched, as expected ({sidecar}:6)"
        )),
        "{text}"
    );
    assert!(text.contains("true negative 'not a critical server': did not match, as expected"), "{text}");
    // The sidecar's placeholders win over the pack's: its cases were written for them.
    let other = tempfile::tempdir().unwrap();
    let vars = write(other.path(), "vars.yml", "critical_servers: [WS17]\n");
    let out = sigmata().args(["test", "--placeholders"]).arg(&vars).arg("-r").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The sidecars are not rules, and the placeholder rule is refused by
    // `check` (which has no placeholders) but tested by `test`.
    let out = sigmata().args(["check", "-r"]).arg(dir.path()).output().unwrap();
    assert!(stdout(&out).contains("2 rule files: 1 rules loaded, 1 refused"), "{}", stdout(&out));
}

#[test]
fn failing_cases_print_why_the_rule_did_or_did_not_match() {
    let dir = tempfile::tempdir().unwrap();
    passing_pack(dir.path());
    let broken = ENCODED_TESTS
        .replace("powershell /enc SQBFAFgA", "powershell -encodedcommand SQBFAFgA")
        .replace("-Encoding UTF8 -File a.ps1", "-enc UTF8 -File a.ps1");
    write(dir.path(), "enc.tests.yml", &broken);
    let out = sigmata().args(["test", "-r"]).arg(dir.path()).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let enc = dir.path().join("enc.yml").display().to_string();
    let sidecar = dir.path().join("enc.tests.yml").display().to_string();
    let expected_tp = format!(
        "FAIL {enc} [6f8e4a1c-0000-4000-8000-000000000001] true positive 'encoded command with /enc': did not match, but must ({sidecar}:3)
    reason given: a slash works as well as a dash
    rule 'Encoded PowerShell' (6f8e4a1c-0000-4000-8000-000000000001): did not match
      condition: all of selection_* and not filter_admin
      failed: selection_cli is false
      selection_img: true
        Image|endswith: true: '\\powershell.exe' matched Image 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'
      selection_cli: false
        CommandLine|contains|windash: false: CommandLine 'powershell -encodedcommand SQBFAFgA' contains ' -enc' but the rule wants it to contain ' -enc ' (windash variants: ' -enc ', ' /enc ', ' \u{2013}enc ', ' \u{2014}enc ', ' \u{2015}enc ')
      filter_admin: false
        User: false: User 'CORP\\alice' contains 'CORP\\a' but the rule wants it to equal 'CORP\\admin'
"
    );
    assert!(text.contains(&expected_tp), "{text}");
    assert!(text.contains("true negative 'encoding option': matched, but must not"), "{text}");
    assert!(text.contains("    reason given: -Encoding is not -enc\n    rule 'Encoded PowerShell'"), "{text}");
    assert!(
        text.ends_with("regression tests: 5 passed, 2 failed, from 2 rules with tests; 0 rules refused\n"),
        "{text}"
    );
}

#[test]
fn malformed_sidecars_fail_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "enc.yml", ENCODED);
    write(
        dir.path(),
        "enc.tests.yml",
        "true_positives:\n  - name: both\n    event: {Image: x}\n    file: x.jsonl\n  - name: typo\n    evnt: {Image: x}\n  - event: {Image: x}\nfalse_positives: []\n",
    );
    write(
        dir.path(),
        "orphan.tests.yml",
        "rule: 00000000-0000-4000-8000-00000000dead\ntrue_positives:\n  - {name: a, event: {A: b}}\n",
    );
    write(dir.path(), "missing.tests.yml", "true_negatives:\n  - {name: a, event: {A: b}}\n");
    write(dir.path(), "notyaml.tests.yml", "true_positives: [\n");
    let out = sigmata().args(["test", "-r"]).arg(dir.path()).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let p = |name: &str| dir.path().join(name).display().to_string();
    for expected in [
        format!("{}:4: true_positives[1]: a case has exactly one of 'event' and 'file'", p("enc.tests.yml")),
        format!("{}:6: true_positives[2]: unknown key 'evnt' (did you mean 'event'?)", p("enc.tests.yml")),
        format!("{}:7: true_positives[3]: the case has no 'name'", p("enc.tests.yml")),
        format!(
            "{}:8: unknown key 'false_positives' (known keys: rule, placeholders, true_positives, true_negatives)",
            p("enc.tests.yml")
        ),
        format!("{}:1: no loaded rule has the id '00000000-0000-4000-8000-00000000dead'", p("orphan.tests.yml")),
        format!("{}:1: no rule found in {}", p("missing.tests.yml"), p("missing.yml")),
        format!("{}:1: invalid YAML", p("notyaml.tests.yml")),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    // The case with a typo also lacks an event: 8 problems, each a failure.
    assert!(
        text.ends_with("regression tests: 0 passed, 8 failed, from 4 rules with tests; 0 rules refused\n"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("notyaml")).count(),
        1,
        "one failure for the unreadable sidecar: {text}"
    );
}

#[test]
fn junit_output_is_valid_xml_with_counts_and_explanations() {
    let dir = tempfile::tempdir().unwrap();
    passing_pack(dir.path());
    // A title that needs escaping, a failing case, and a refused rule.
    write(
        dir.path(),
        "enc.yml",
        &ENCODED.replace("title: Encoded PowerShell", "title: 'Encoded <PowerShell> & \"friends\"'"),
    );
    write(dir.path(), "enc.tests.yml", &ENCODED_TESTS.replace("powershell /enc SQBFAFgA", "powershell -nop"));
    write(
        dir.path(),
        "refused.yml",
        &ENCODED
            .replace("6f8e4a1c-0000-4000-8000-000000000001", "6f8e4a1c-0000-4000-8000-000000000002")
            .replace("condition: all of", "condition: al of"),
    );
    let out = sigmata().args(["test", "--format", "junit", "-r"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("invalid XML: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    assert_eq!(suites.len(), 3, "{xml}");
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(cases.len(), 8);
    assert_eq!(failures.len(), 2);
    assert_eq!(root.attribute("tests"), Some("8"));
    assert_eq!(root.attribute("failures"), Some("2"));
    for s in &suites {
        let n = s.children().filter(|c| c.has_tag_name("testcase")).count();
        let f = s.descendants().filter(|c| c.has_tag_name("failure")).count();
        assert_eq!(s.attribute("tests"), Some(n.to_string().as_str()));
        assert_eq!(s.attribute("failures"), Some(f.to_string().as_str()));
    }
    let failed =
        failures.iter().find(|f| f.attribute("type") == Some("true_positive")).expect("a failed true positive");
    let case = failed.parent().unwrap();
    assert_eq!(
        case.attribute("classname"),
        Some("Encoded <PowerShell> & \"friends\" [6f8e4a1c-0000-4000-8000-000000000001]")
    );
    assert_eq!(case.attribute("name"), Some("true positive 'encoded command with /enc'"));
    assert_eq!(failed.attribute("message"), Some("did not match, but must"));
    let body = failed.text().unwrap();
    assert!(
        body.contains(
            "rule 'Encoded <PowerShell> & \"friends\"' (6f8e4a1c-0000-4000-8000-000000000001): did not match"
        ),
        "{body}"
    );
    assert!(body.contains("failed: selection_cli is false"), "{body}");
    let refused = failures.iter().find(|f| f.attribute("type") == Some("refused")).expect("the refused rule");
    assert!(refused.attribute("message").unwrap().contains("Sigma has no 'al of'"), "{xml}");
    assert!(refused.text().unwrap().contains("condition: al of selection_*"), "{xml}");
}

#[test]
fn json_output_lists_every_case() {
    let dir = tempfile::tempdir().unwrap();
    passing_pack(dir.path());
    let out = sigmata().args(["test", "--format", "json", "-r"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["passed"], 7);
    assert_eq!(doc["failed"], 0);
    let tests = doc["tests"].as_array().unwrap();
    assert_eq!(tests.iter().filter(|t| t["kind"] == "true_positive").count(), 3);
    assert_eq!(tests.iter().filter(|t| t["kind"] == "true_negative").count(), 4);
    assert!(tests.iter().all(|t| t["passed"] == true && t["explanation"].is_null()));
}

#[test]
fn explain_says_which_selection_and_value_decided() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "enc.yml", ENCODED);
    let events = write(
        dir.path(),
        "events.jsonl",
        &[
            format!(
                "{{\"Image\": \"{PS}\", \"CommandLine\": \"powershell /enc SQBFAFgA\", \"User\": \"CORP\\\\alice\"}}"
            ),
            format!(
                "{{\"Image\": \"{PS}\", \"CommandLine\": \"powershell -enc SQBFAFgA\", \"User\": \"CORP\\\\Admin\"}}"
            ),
            "{\"Image\": \"C:\\\\Windows\\\\System32\\\\pwsh.exe\"}".to_string(),
        ]
        .join("\n"),
    );
    let out = sigmata().arg("explain").arg("-r").arg(&rule).arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let e = events.display();
    let expected = format!(
        "{e}:1: rule 'Encoded PowerShell' (6f8e4a1c-0000-4000-8000-000000000001): matched
  condition: all of selection_* and not filter_admin
  selection_img: true
    Image|endswith: true: '\\powershell.exe' matched Image 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'
  selection_cli: true
    CommandLine|contains|windash: true: ' -enc ' matched CommandLine 'powershell /enc SQBFAFgA' as ' /enc '
  filter_admin: false
    User: false: User 'CORP\\alice' contains 'CORP\\a' but the rule wants it to equal 'CORP\\admin'
{e}:2: rule 'Encoded PowerShell' (6f8e4a1c-0000-4000-8000-000000000001): did not match
  condition: all of selection_* and not filter_admin
  failed: filter_admin is true (the condition excludes it)
  selection_img: true
    Image|endswith: true: '\\powershell.exe' matched Image 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'
  selection_cli: true
    CommandLine|contains|windash: true: ' -enc ' matched CommandLine 'powershell -enc SQBFAFgA'
  filter_admin: true
    User: true: 'CORP\\admin' matched User 'CORP\\Admin'
{e}:3: rule 'Encoded PowerShell' (6f8e4a1c-0000-4000-8000-000000000001): did not match
  condition: all of selection_* and not filter_admin
  failed: selection_img is false; selection_cli is false
  selection_img: false
    Image|endswith: false: Image 'C:\\Windows\\System32\\pwsh.exe' contains '.exe' but the rule wants it to end with '\\powershell.exe'
  selection_cli: false
    CommandLine|contains|windash: false: the event has no CommandLine; the rule wants it to contain ' -enc ' (windash variants: ' -enc ', ' /enc ', ' \u{2013}enc ', ' \u{2014}enc ', ' \u{2015}enc ')
  filter_admin: false
    User: false: the event has no User; the rule wants it to equal 'CORP\\admin'
"
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn explain_picks_the_nearest_branch_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(
        dir.path(),
        "r.yml",
        r#"title: Script Host
logsource: {category: process_creation}
detection:
    selection:
        - Image|endswith: ['\wscript.exe', '\cscript.exe']
          CommandLine|contains|all: ['.js', '\Temp\']
        - OriginalFileName: 'mshta.exe'
    keywords:
        - 'invoke-mimikatz'
    condition: selection or keywords
"#,
    );
    let out = sigmata()
        .arg("explain")
        .arg("-r")
        .arg(&rule)
        .arg("-")
        .write_stdin(
            r#"{"Image": "C:\\Windows\\System32\\cscript.exe", "CommandLine": "cscript C:\\Users\\a\\Desktop\\x.js"}"#,
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        r"-:1: rule 'Script Host': did not match
  condition: selection or keywords
  failed: selection is false; keywords is false
  selection: false (no branch of 2 matched; nearest: branch 1)
    Image|endswith: true: '\cscript.exe' matched Image 'C:\Windows\System32\cscript.exe'
    CommandLine|contains|all: false: 1 of 2 values did not match
      '\Temp\': CommandLine is 'cscript C:\Users\a\Desktop\x.js'; the rule wants it to contain '\Temp\'
  keywords: false
    keyword: false: a value of the event is 'C:\Windows\System32\cscript.exe'; the rule wants it to contain 'invoke-mimikatz'
"
    );
}

#[test]
fn explain_json_carries_the_structure() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "enc.yml", ENCODED);
    let event = format!("{{\n  \"Image\": \"{PS}\",\n  \"CommandLine\": \"powershell -e x\"\n}}\n");
    let out =
        sigmata().args(["explain", "--format", "json", "-r"]).arg(&rule).arg("-").write_stdin(event).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &doc[0];
    assert_eq!(e["matched"], false);
    assert_eq!(e["line"], 1);
    assert_eq!(e["failed"], serde_json::json!([{"search": "selection_cli", "value": false}]));
    let item = &e["searches"][1]["branches"][0]["items"][0];
    assert_eq!(item["key"], "CommandLine|contains|windash");
    assert_eq!(item["values"][0]["wants"].as_array().unwrap().len(), 5);
    assert_eq!(item["values"][0]["nearest"]["common"], " -e");
    assert!(e["text"].as_str().unwrap().starts_with("rule 'Encoded PowerShell'"));
    // Usage errors: a rule id that is not loaded, a file that is not JSON.
    sigmata().args(["explain", "--rule", "nope", "-r"]).arg(&rule).arg("-").write_stdin("{}").assert().code(2);
    sigmata().args(["explain", "-r"]).arg(&rule).arg("-").write_stdin("not json").assert().code(2);
}

#[test]
fn check_cost_lists_witnesses_and_literal_counts() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "enc.yml", ENCODED);
    let out = sigmata().args(["check", "--cost", "-r"]).arg(&rule).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{}:1: 'Encoded PowerShell' [6f8e4a1c-0000-4000-8000-000000000001]", rule.display())),
        "{text}"
    );
    assert!(text.contains("  literals per field: CommandLine 5, Image 1, User 1\n"), "{text}");
    assert!(text.contains("  witness group 1: "), "{text}");
    assert!(text.contains("cost: 1 rules, 0 evaluated for every event"), "{text}");
    let out = sigmata().args(["check", "--cost", "--format", "json", "-r"]).arg(&rule).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cost = &doc["cost"][0];
    assert_eq!(cost["always_evaluated"], false);
    assert_eq!(cost["literals"], serde_json::json!({"CommandLine": 5, "Image": 1, "User": 1}));
    assert!(!cost["witness_groups"].as_array().unwrap().is_empty());
}

#[test]
fn check_lints_warn_without_changing_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "lints.yml",
        r#"title: Lint Bait
id: 6f8e4a1c-0000-4000-8000-000000000009
logsource: {category: process_creation, product: windows}
detection:
    selection:
        CommandLine|contains: ''
        ParentCommandline|endswith: '\explorer.exe'
    download:
        CommandLine|contains: 'http://evil.example/a.php?id='
    digits:
        CommandLine|re: '^\d+$'
    condition: selection or download or digits
"#,
    );
    write(
        dir.path(),
        "dup.yml",
        &ENCODED.replace("6f8e4a1c-0000-4000-8000-000000000001", "6f8e4a1c-0000-4000-8000-000000000009"),
    );
    let out = sigmata().args(["check", "-r"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lints = dir.path().join("lints.yml").display().to_string();
    for expected in [
        format!("warning: {lints}:4: rule 'Lint Bait' (6f8e4a1c-0000-4000-8000-000000000009) [no-witness]: no selective witness literal"),
        format!("warning: {lints}:2: rule 'Lint Bait' (6f8e4a1c-0000-4000-8000-000000000009) [duplicate-id]: duplicate rule id 6f8e4a1c-0000-4000-8000-000000000009: also the id of 'Encoded PowerShell' at {}:2", dir.path().join("dup.yml").display()),
        format!("warning: {lints}:6: rule 'Lint Bait' (6f8e4a1c-0000-4000-8000-000000000009) [no-op-value]: 'CommandLine|contains': the value '' under 'contains' matches every value"),
        format!("warning: {lints}:7: rule 'Lint Bait' (6f8e4a1c-0000-4000-8000-000000000009) [field-not-in-taxonomy]: field 'ParentCommandline' is not in the Sigma process_creation taxonomy (did you mean 'ParentCommandLine'?)"),
        format!("warning: {lints}:9: rule 'Lint Bait' (6f8e4a1c-0000-4000-8000-000000000009) [wildcard-question-mark]: 'CommandLine|contains': '?' in 'http://evil.example/a.php?id='"),
        "5 lint warnings (no-witness 1, duplicate-id 1, no-op-value 1, field-not-in-taxonomy 1, wildcard-question-mark 1)".to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(dir.path()).assert().code(1);
    sigmata().args(["check", "--deny-warnings", "-r"]).arg(dir.path().join("dup.yml")).assert().code(0);
    let out = sigmata().args(["check", "--format", "json", "-r"]).arg(dir.path()).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["lints"].as_array().unwrap().len(), 5);
    assert_eq!(doc["lints"][0]["lint"], "no-witness");
}

#[test]
fn scan_explain_attaches_the_explanation_to_each_match() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(dir.path(), "enc.yml", ENCODED);
    let line =
        format!("{{\"Image\": \"{PS}\", \"CommandLine\": \"powershell -enc x\"}}\n{{\"Image\": \"C:\\\\cmd.exe\"}}\n");
    let out = sigmata().args(["scan", "--explain", "-r"]).arg(&rule).write_stdin(line.clone()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["explanation"]["matched"], true);
    assert_eq!(lines[0]["explanation"]["searches"][1]["name"], "selection_cli");
    assert_eq!(lines[0]["event"]["CommandLine"], "powershell -enc x");
    let out = sigmata()
        .args(["scan", "--explain", "--format", "text", "-r"])
        .arg(&rule)
        .write_stdin(line.clone())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.starts_with("-:1: high          Encoded PowerShell [6f8e4a1c-0000-4000-8000-000000000001]\n    rule 'Encoded PowerShell'"), "{text}");
    assert!(
        text.contains(
            "\n        CommandLine|contains|windash: true: ' -enc ' matched CommandLine 'powershell -enc x'\n"
        ),
        "{text}"
    );
    // --profile: the same matches, and a report on stderr.
    let out = sigmata().args(["scan", "--profile", "-r"]).arg(&rule).write_stdin(line).output().unwrap();
    assert_eq!(stdout(&out).lines().count(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("profile: 2 events in") && err.contains("top 1 rules by verification time:"), "{err}");
    assert!(err.contains("Encoded PowerShell [6f8e4a1c-0000-4000-8000-000000000001]"), "{err}");
    sigmata().args(["scan", "--profile", "--engine", "reference", "-r"]).arg(&rule).write_stdin("{}").assert().code(2);
}

/// The SigmaHQ regression tests from ../shared (when present): all pass, and
/// the JUnit rendering parses with one testcase per test.
#[test]
fn sigmahq_regression_tests_pass_and_render_as_junit() {
    let sigma = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sigma/rules");
    if !sigma.is_dir() {
        eprintln!("note: {} is absent; the SigmaHQ regression tests were not run", sigma.display());
        return;
    }
    let out = sigmata().args(["test", "--format", "junit", "-r"]).arg(&sigma).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("invalid XML: {e}"));
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
    assert!(cases >= 100, "only {cases} SigmaHQ regression tests");
    assert_eq!(doc.root_element().attribute("tests"), Some(cases.to_string().as_str()));
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

#[test]
fn explain_words_neq_null_and_all_items() {
    let dir = tempfile::tempdir().unwrap();
    let rule = write(
        dir.path(),
        "r.yml",
        r#"title: Odd Items
logsource: {category: process_creation}
detection:
    selection:
        CommandLine|contains|all: ['-nop', '-w hidden']
        ParentImage: null
        User|neq: 'SYSTEM'
    condition: selection
"#,
    );
    let event = r#"{"CommandLine": "powershell -nop -w hidden -c x", "User": "alice"}"#;
    let out = sigmata().arg("explain").arg("-r").arg(&rule).arg("-").write_stdin(event).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "-:1: rule 'Odd Items': matched
  condition: selection
  selection: true
    CommandLine|contains|all: true: all 2 values matched: CommandLine is 'powershell -nop -w hidden -c x'
    ParentImage: true: 'null' matched: the event has no ParentImage
    User|neq: true: 'SYSTEM' did not match, as neq wants: User is 'alice'
"
    );
}
