//! Determinism, event shape and realism targets of the generated corpus.
//!
//! `cargo test -p sigmata-corpus -- --nocapture` prints the measured statistics (quoted in
//! corpora/README.md).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;
use sigmata_corpus::{FIELDS, Generator, Kind, write_jsonl};

const SAMPLE: usize = 100_000;

/// 100,000 events of seed 1 with their kinds, generated once for all tests.
fn sample() -> &'static [(Value, Kind)] {
    static SAMPLE_EVENTS: OnceLock<Vec<(Value, Kind)>> = OnceLock::new();
    SAMPLE_EVENTS.get_or_init(|| {
        let mut g = Generator::new(1);
        (0..SAMPLE)
            .map(|_| {
                let event = g.next_event();
                (event, g.kind_of_last())
            })
            .collect()
    })
}

fn jsonl(seed: u64, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    write_jsonl(seed, count, &mut out).unwrap();
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = jsonl(42, 1_000);
    assert_eq!(a, jsonl(42, 1_000));
    assert_ne!(a, jsonl(43, 1_000));
    // A prefix of a longer stream is the shorter stream.
    assert!(jsonl(42, 2_000).starts_with(&a));
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 1_000);
}

#[test]
fn jsonl_lines_are_the_events_with_keys_in_sysmon_order() {
    let text = String::from_utf8(jsonl(5, 500)).unwrap();
    let mut g = Generator::new(5);
    for line in text.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap();
        assert_eq!(parsed, g.next_event());
        let mut at = 0;
        for key in FIELDS {
            let found = line[at..].find(&format!("\"{key}\":")).expect(key);
            at += found + 1;
        }
    }
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 38
        && b[0] == b'{'
        && b[37] == b'}'
        && b[1..37]
            .iter()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

fn is_upper_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))
}

#[test]
fn every_event_has_the_sysmon_fields_with_the_right_types() {
    const INTEGERS: [&str; 4] = ["EventID", "ProcessId", "ParentProcessId", "TerminalSessionId"];
    let mut hashes_by_image: HashMap<&str, &str> = HashMap::new();
    let mut previous_time = String::new();
    for (event, _) in sample() {
        let map = event.as_object().expect("an object");
        assert_eq!(map.len(), FIELDS.len(), "{event}");
        for key in FIELDS {
            let value = &map[key];
            if INTEGERS.contains(&key) {
                assert!(value.is_u64(), "{key} of {event}");
            } else {
                assert!(value.as_str().is_some_and(|s| !s.is_empty()), "{key} of {event}");
            }
        }
        let s = |key: &str| map[key].as_str().unwrap();
        assert_eq!(map["EventID"], 1);
        assert_eq!(s("Channel"), "Microsoft-Windows-Sysmon/Operational");
        assert!(s("Computer").ends_with(".corp.example.com"));
        for key in ["ProcessGuid", "ParentProcessGuid", "LogonGuid"] {
            assert!(is_guid(s(key)), "{key} of {event}");
        }
        let utc = s("UtcTime");
        assert!(utc.len() == 23 && utc.starts_with("2026-11-") && &utc[19..20] == ".", "{utc}");
        assert!(*utc >= *previous_time, "UtcTime goes backwards at {utc}");
        previous_time = utc.to_string();
        let logon = s("LogonId").strip_prefix("0x").expect("LogonId in hex");
        assert!(u64::from_str_radix(logon, 16).is_ok());
        assert!(["Low", "Medium", "High", "System"].contains(&s("IntegrityLevel")));
        assert_eq!(map["ProcessId"].as_u64().unwrap() % 4, 0);

        let parts: Vec<&str> = s("Hashes").split(',').collect();
        assert_eq!(parts.len(), 3, "{event}");
        assert!(is_upper_hex(parts[0].strip_prefix("MD5=").unwrap(), 32));
        assert!(is_upper_hex(parts[1].strip_prefix("SHA256=").unwrap(), 64));
        assert!(is_upper_hex(parts[2].strip_prefix("IMPHASH=").unwrap(), 32));
        let known = hashes_by_image.entry(s("Image")).or_insert(s("Hashes"));
        assert_eq!(*known, s("Hashes"), "hashes of {}", s("Image"));
    }
}

#[test]
fn parents_are_the_processes_that_were_logged() {
    let mut processes: HashMap<&str, &Value> = HashMap::new();
    let mut with_logged_parent = 0;
    for (event, _) in sample() {
        if let Some(parent) = processes.get(event["ParentProcessGuid"].as_str().unwrap()) {
            with_logged_parent += 1;
            assert_eq!(parent["Computer"], event["Computer"]);
            assert_eq!(parent["ProcessId"], event["ParentProcessId"]);
            assert_eq!(parent["Image"], event["ParentImage"]);
            assert_eq!(parent["CommandLine"], event["ParentCommandLine"]);
            assert_eq!(parent["User"], event["ParentUser"]);
        }
        let guid = event["ProcessGuid"].as_str().unwrap();
        assert!(processes.insert(guid, event).is_none(), "duplicate ProcessGuid {guid}");
    }
    // Consoles, browsers, tool chains and attack chains have logged parents.
    assert!(with_logged_parent > SAMPLE / 5, "{with_logged_parent}");
}

/// Every IPv4 address and URL host in command lines is from documentation ranges or example.com.
#[test]
fn only_documentation_addresses_and_example_domains() {
    let allowed_ip = |ip: &str| ["192.0.2.", "198.51.100.", "203.0.113.", "127.0.0."].iter().any(|p| ip.starts_with(p));
    for (event, _) in sample() {
        let cmd = event["CommandLine"].as_str().unwrap();
        for (i, _) in cmd.match_indices("://") {
            let host: String =
                cmd[i + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
            let is_ip = host.chars().all(|c| c.is_ascii_digit() || c == '.');
            assert!(host.ends_with("example.com") || (is_ip && allowed_ip(&host)), "{host} in {cmd}");
        }
        for word in cmd.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
            let octets: Vec<&str> = word.split('.').collect();
            if octets.len() == 4 && octets.iter().all(|o| !o.is_empty() && o.len() <= 3) {
                assert!(allowed_ip(word), "{word} in {cmd}");
            }
        }
    }
}

fn percentile(sorted: &[usize], p: f64) -> usize {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[test]
fn command_lines_look_like_a_fleet() {
    let events = sample();
    let mut lengths: Vec<usize> =
        events.iter().map(|(e, _)| e["CommandLine"].as_str().unwrap().chars().count()).collect();
    lengths.sort_unstable();
    let (median, p90, p99, max) =
        (percentile(&lengths, 0.50), percentile(&lengths, 0.90), percentile(&lengths, 0.99), *lengths.last().unwrap());
    let distinct = |key: &str| events.iter().map(|(e, _)| e[key].as_str().unwrap()).collect::<HashSet<_>>().len();
    let (images, commands) = (distinct("Image"), distinct("CommandLine"));
    let count = |kind| events.iter().filter(|(_, k)| *k == kind).count();
    let (attacks, near_misses) = (count(Kind::Attack), count(Kind::NearMiss));
    let rate = |n: usize| 100.0 * n as f64 / SAMPLE as f64;
    println!(
        "{SAMPLE} events (seed 1): CommandLine length median {median}, p90 {p90}, p99 {p99}, \
         max {max}; distinct Image {images}, distinct CommandLine {commands} ({:.1} %), \
         distinct Computer {}, distinct User {}; Attack {attacks} ({:.2} %), \
         NearMiss {near_misses} ({:.1} %)",
        rate(commands),
        distinct("Computer"),
        distinct("User"),
        rate(attacks),
        rate(near_misses),
    );
    assert!((45..=70).contains(&median), "median {median}");
    assert!((120..=250).contains(&p90), "p90 {p90}");
    assert!((1_000..=2_500).contains(&p99), "p99 {p99}");
    assert!(max <= 8_000, "max {max}");
    assert!((50..=400).contains(&images), "{images} distinct images");
    assert!((30.0..=70.0).contains(&rate(commands)), "{commands} distinct command lines");
    assert!((0.05..=0.2).contains(&rate(attacks)), "{attacks} attack events");
    assert!((5.0..=10.0).contains(&rate(near_misses)), "{near_misses} near-miss events");
}

/// Benign and near-miss events carry no abuse; attack events cover every attack scenario.
#[test]
fn kinds_match_their_command_lines() {
    let text = |e: &Value| e["CommandLine"].as_str().unwrap().to_lowercase();
    for (event, kind) in sample() {
        if *kind != Kind::Attack {
            let cmd = text(event);
            for abuse in
                [" -enc ", "iex(", "| iex", "-urlcache -split", "scrobj.dll", "javascript:", " /add", "delete shadows"]
            {
                assert!(!cmd.contains(abuse), "{kind:?} event with {abuse:?}: {cmd}");
            }
        }
    }
    // Attacks are rare (~0.1 %): look at a longer stream to see every scenario.
    let mut g = Generator::new(2);
    let mut attacks = Vec::new();
    for _ in 0..500_000 {
        let event = g.next_event();
        if g.kind_of_last() == Kind::Attack {
            attacks.push(text(&event));
        }
    }
    // Each of these abuses shows up (any spelling of a group is enough).
    let groups: [&[&str]; 13] = [
        &["-enc "],
        &["iex"],
        &["certutil"],
        &["mshta"],
        &["rundll32"],
        &["regsvr32"],
        &["wscript", "cscript"],
        &[" -cf "],
        &["whoami"],
        &[" /add"],
        &["vssadmin"],
        &["schtasks"],
        &["fodhelper", "ms-settings"],
    ];
    for group in groups {
        assert!(attacks.iter().any(|c| group.iter().any(|n| c.contains(n))), "no attack with {group:?}");
    }
}
