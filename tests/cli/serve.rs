//! `sigmata serve` against a real nats-server: alerts equal `scan`'s
//! matches with one and three workers, nothing is lost when a worker is
//! killed or the server restarts, SIGTERM finishes what is held, bad
//! messages are dead-lettered, reloads swap or refuse packs, partitions keep
//! a host on one worker. Each test is bounded in time and talks to 127.0.0.1
//! only.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::nats_support::{Nats, Worker, alert_pairs, bin, corpus, scan, wait_for_alerts};

const LIMIT: Duration = Duration::from_secs(120);

/// Checks an alert against the scan match of the same (line, rule): the
/// same object, with the stream as `source` and `stream_seq`/`subject` added.
fn same_as_scan(alert: &Value, scanned: &Value, stream: &str) {
    let mut a = alert.as_object().expect("an object").clone();
    assert_eq!(a.remove("stream_seq"), Some(scanned["line"].clone()));
    assert!(a.remove("subject").is_some_and(|s| s.is_string()), "{alert}");
    assert_eq!(a.remove("source"), Some(Value::from(stream)));
    let mut s = scanned.as_object().expect("an object").clone();
    s.remove("source");
    assert_eq!(Value::Object(a), Value::Object(s));
}

fn check_against_scan(alerts: &[Value], expected: &BTreeMap<(u64, String), Value>, stream: &str) -> usize {
    let (pairs, repeats) = alert_pairs(alerts);
    let want: BTreeSet<_> = expected.keys().cloned().collect();
    let missing: Vec<_> = want.difference(&pairs).take(5).collect();
    let extra: Vec<_> = pairs.difference(&want).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "alerts differ from scan: missing {missing:?}, extra {extra:?}");
    for a in alerts.iter().filter(|a| a.get("correlation").is_none()) {
        let key = (a["stream_seq"].as_u64().unwrap_or(0), a["rule_id"].as_str().unwrap_or_default().to_string());
        same_as_scan(a, &expected[&key], stream);
    }
    repeats
}

#[test]
fn serve_alerts_equal_scan_matches_with_1_and_3_workers() {
    let Some(nats) = Nats::shared_or_own("serve_alerts_equal_scan") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (events, rules, what) = corpus(dir.path(), true);
    let lines = std::fs::read_to_string(&events).unwrap().lines().count();
    let expected = scan(&rules, &events);
    let stream = nats.stream("EV", &["ev.>"]);
    let one = nats.stream("AL1", &["al1", "al1.>"]);
    let three = nats.stream("AL3", &["al3", "al3.>"]);
    nats.publish("ev.win", &events, &[]);
    for (workers, consumer, alerts_subject, alerts_stream) in [(1, "one", "al1", &one), (3, "three", "al3", &three)] {
        let mut args = nats.serve_args(&stream, consumer, alerts_subject);
        args.extend(rules.iter().cloned());
        args.extend(["--exit-when-idle", "-j", if workers == 1 { "2" } else { "1" }].map(String::from));
        let mut running: Vec<Worker> = (0..workers).map(|_| Worker::start(&args, false)).collect();
        let mut evaluated = Vec::new();
        for w in &mut running {
            assert_eq!(w.wait(LIMIT), Some(0), "{}", w.log_text());
            let stopped = w.last("stopped").expect("a 'stopped' log line");
            evaluated.push(stopped["events"].as_u64().unwrap());
        }
        let alerts = nats.read(alerts_stream, None);
        let repeats = check_against_scan(&alerts, &expected, &stream);
        eprintln!(
            "{what}: {lines} events, {workers} worker(s) evaluated {evaluated:?}: {} alerts ({repeats} repeated) = \
             scan's {} matches",
            alerts.len(),
            expected.len()
        );
        assert!(evaluated.iter().sum::<u64>() >= lines as u64);
        assert!(!expected.is_empty());
    }
}

/// `serve --bundle PACK` (a pack from `sigmata compile`, signed and
/// verified) publishes exactly the alerts `scan -r` of the same rules matches.
#[test]
fn serve_from_a_bundle_alerts_as_scan_of_the_rules() {
    let Some(nats) = Nats::shared_or_own("serve_from_a_bundle") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (events, rules, what) = corpus(dir.path(), true);
    let pack = dir.path().join("pack.sgb");
    let (key, public) = super::bundle::key_pair(dir.path(), "release");
    let out = Command::new(bin())
        .arg("compile")
        .args(&rules)
        .arg("-o")
        .arg(&pack)
        .arg("--sign-key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = scan(&rules, &events);
    let stream = nats.stream("EVB", &["evb.>"]);
    let alerts_stream = nats.stream("ALB", &["alb", "alb.>"]);
    nats.publish("evb.win", &events, &[]);
    let mut args = nats.serve_args(&stream, "bundle", "alb");
    args.extend(["--bundle".to_string(), pack.display().to_string(), "--exit-when-idle".to_string()]);
    args.extend(["--verify-key".to_string(), public.display().to_string()]);
    let mut worker = Worker::start(&args, false);
    assert_eq!(worker.wait(LIMIT), Some(0), "{}", worker.log_text());
    let alerts = nats.read(&alerts_stream, None);
    check_against_scan(&alerts, &expected, &stream);
    eprintln!("{what}: serve --bundle published {} alerts = scan's {} matches", alerts.len(), expected.len());
    assert!(!expected.is_empty());
}

#[test]
fn serve_loses_nothing_when_a_worker_is_killed_or_the_server_restarts() {
    let Some(mut nats) = Nats::own_server("serve_kill_restart") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (events, rules, what) = corpus(dir.path(), false);
    let text = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Three parts: published before the first worker, after it was killed,
    // and after the server restarted.
    let parts: Vec<_> = lines.chunks(lines.len().div_ceil(3)).map(|c| c.join("\n") + "\n").collect();
    let part = |i: usize| {
        let p = dir.path().join(format!("part{i}.jsonl"));
        std::fs::write(&p, &parts[i]).unwrap();
        p
    };
    let expected = scan(&rules, &events);
    let stream = nats.stream("EV", &["ev.>"]);
    let alerts = nats.stream("AL", &["al", "al.>"]);
    nats.publish("ev.a", &part(0), &[]);
    let mut args = nats.serve_args(&stream, "workers", "al");
    args.extend(rules.iter().cloned());
    args.extend(["--ack-wait", "2", "--max-inflight", "64", "-j", "1"].map(String::from));

    // kill -9 while the worker holds messages.
    let mut first = Worker::start(&args, true);
    let acked_at_kill = first.wait_metric("sigmata_acked_total", 1.0, LIMIT);
    first.kill9();
    assert!(acked_at_kill < lines.len() as f64, "the worker finished before it was killed");

    // Its replacement gets the killed worker's messages again.
    nats.publish("ev.b", &part(1), &[]);
    let second = Worker::start(&args, true);
    second.wait_metric("sigmata_acked_total", 50.0, LIMIT);
    nats.restart();
    nats.publish("ev.c", &part(2), &[]);
    let got = wait_for_alerts(&nats, &alerts, &expected.keys().cloned().collect(), LIMIT);
    let redelivered = second.wait_metric("sigmata_redeliveries_total", 1.0, Duration::from_secs(10));
    let repeats = check_against_scan(&got, &expected, &stream);
    let reconnected =
        second.log().iter().filter(|l| l["msg"] == "NATS connection" && l["event"] == "connected").count();
    eprintln!(
        "{what}: {} events; worker killed after {acked_at_kill} acks; its replacement saw {redelivered} redeliveries \
         and {reconnected} reconnection(s) across a server restart; {} alerts ({repeats} repeated) cover scan's {} matches",
        lines.len(),
        got.len(),
        expected.len()
    );
    assert!(reconnected >= 1, "no reconnection logged:\n{}", second.log_text());
}

#[test]
fn serve_sigterm_finishes_what_it_holds_and_exits_0() {
    let Some(nats) = Nats::shared_or_own("serve_sigterm") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (events, rules, _) = corpus(dir.path(), false);
    let lines = std::fs::read_to_string(&events).unwrap().lines().count();
    let expected = scan(&rules, &events);
    let stream = nats.stream("EV", &["ev.>"]);
    let alerts = nats.stream("AL", &["al", "al.>"]);
    nats.publish("ev.x", &events, &[]);
    let mut args = nats.serve_args(&stream, "c", "al");
    args.extend(rules.iter().cloned());
    args.extend(["--ack-wait", "2", "--max-inflight", "64", "-j", "1"].map(String::from));
    let mut w = Worker::start(&args, true);
    w.wait_metric("sigmata_acked_total", 1.0, LIMIT);
    crate::nats_support::signal(w.pid(), "TERM");
    assert_eq!(w.wait(Duration::from_secs(30)), Some(0), "{}", w.log_text());
    let stopped = w.last("stopped").expect("a 'stopped' line");
    assert_eq!(stopped["inflight"], 0, "{stopped}");
    assert_eq!(stopped["events"], stopped["acked"], "{stopped}");
    let first = stopped["acked"].as_u64().unwrap();
    // A worker started afterwards finds nothing left unacknowledged (it
    // would be redelivered after the 2 s ack wait) and does the rest.
    args.push("--exit-when-idle".into());
    let mut rest = Worker::start(&args, false);
    assert_eq!(rest.wait(LIMIT), Some(0), "{}", rest.log_text());
    let done = rest.last("stopped").expect("a 'stopped' line");
    assert_eq!(done["redeliveries"], 0, "the first worker left messages unacknowledged: {done}");
    let got = nats.read(&alerts, None);
    check_against_scan(&got, &expected, &stream);
    eprintln!(
        "SIGTERM after {first} of {lines} events: exit 0, none in flight; the next worker did the rest, no redelivery"
    );
    assert!(first < lines as u64, "the worker finished before SIGTERM");
}

#[test]
fn serve_dead_letters_messages_that_are_not_events() {
    let Some(nats) = Nats::shared_or_own("serve_dead_letters") else { return };
    let dir = tempfile::tempdir().unwrap();
    let good =
        r#"{"EventID": 1, "Image": "C:\\Windows\\System32\\mshta.exe", "CommandLine": "mshta http://x.example/a.hta"}"#;
    let long = format!(r#"{{"CommandLine": "{}"}}"#, "a".repeat(3000));
    let mut bytes = Vec::new();
    for line in ["not json", "[1, 2]", "\"a string\"", "{\"Image\": ", good, &long] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"Image\": \"\xff\xfe\"}\n");
    // A network connection event: not process creation, acked and counted.
    bytes.extend_from_slice(
        br#"{"EventID": 3, "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\x\\mshta.exe"}"#,
    );
    bytes.push(b'\n');
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, &bytes).unwrap();
    let stream = nats.stream("EV", &["ev.>"]);
    let alerts = nats.stream("AL", &["al", "al.>"]);
    nats.publish("ev.mixed", &file, &[]);
    let mut args = nats.serve_args(&stream, "c", "al");
    args.extend(["--exit-when-idle", "--max-message-bytes", "2000"].map(String::from));
    let mut w = Worker::start(&args, false);
    assert_eq!(w.wait(LIMIT), Some(0), "{}", w.log_text());
    let dead = nats.read(&alerts, Some("al.dead"));
    let reasons: BTreeMap<u64, String> =
        dead.iter().map(|d| (d["stream_seq"].as_u64().unwrap(), d["reason"].as_str().unwrap().to_string())).collect();
    let expect = [
        (1, "invalid JSON"),
        (2, "not a JSON object"),
        (3, "not a JSON object"),
        (4, "invalid JSON"),
        (6, "longer than --max-message-bytes 2000"),
        (7, "invalid UTF-8"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
    for (seq, reason) in expect {
        assert!(reasons[&seq].contains(reason), "message {seq}: {}", reasons[&seq]);
    }
    // Dead letters are published as their messages finish, not in stream order.
    let first = dead.iter().find(|d| d["stream_seq"] == 1).expect("message 1 is dead-lettered");
    assert_eq!(first["message"], "not json");
    let all = nats.read(&alerts, Some("al"));
    assert!(!all.is_empty() && all.iter().all(|a| a["stream_seq"] == 5), "{all:?}");
    let stopped = w.last("stopped").unwrap();
    let counts =
        ["events", "skipped_not_process_creation", "malformed", "dead_lettered", "acked"].map(|k| stopped[k].as_u64());
    assert_eq!(counts, [1, 1, 6, 6, 8].map(Some), "{stopped}");
}

const NET: &str = r#"title: Net user
id: 00000000-0000-4000-8000-0000000000b2
level: high
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\net.exe'
    condition: selection
"#;

#[test]
fn serve_reloads_on_sighup_and_refuses_a_broken_pack() {
    let Some(nats) = Nats::shared_or_own("serve_reload") else { return };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("r.yml"), crate::RULE).unwrap();
    let stream = nats.stream("EV", &["ev.>"]);
    let alerts = nats.stream("AL", &["al", "al.>"]);
    let mut args = nats.serve_args(&stream, "c", "al");
    args.extend(["-r".to_string(), rules.display().to_string()]);
    let w = Worker::start(&args, true);
    w.wait_metric("sigmata_pack_rules", 1.0, LIMIT);
    let events = dir.path().join("e.jsonl");
    let whoami = r#"{"Image": "C:\\Windows\\System32\\whoami.exe"}"#;
    let net = r#"{"Image": "C:\\Windows\\System32\\net.exe"}"#;
    let publish = |lines: &[&str]| {
        std::fs::write(&events, lines.join("\n")).unwrap();
        nats.publish("ev.x", &events, &[]);
    };
    let rules_of = |n: usize| {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let got: Vec<(u64, String)> = nats
                .read(&alerts, Some("al"))
                .iter()
                .map(|a| (a["stream_seq"].as_u64().unwrap(), a["rule_title"].as_str().unwrap().to_string()))
                .collect();
            if got.len() >= n {
                return got;
            }
            assert!(std::time::Instant::now() < deadline, "fewer than {n} alerts: {got:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    publish(&[whoami, net]);
    assert_eq!(rules_of(1), [(1, "Whoami Execution".to_string())]);
    let hash = |w: &Worker| {
        let text = w.metrics_text().unwrap();
        text.lines().find(|l| l.starts_with("sigmata_pack_info{")).unwrap().to_string()
    };
    let before = hash(&w);

    // A changed pack: later events use it.
    std::fs::write(rules.join("r.yml"), NET).unwrap();
    crate::nats_support::signal(w.pid(), "HUP");
    w.wait_metric("sigmata_reloads_total", 1.0, LIMIT);
    let after = hash(&w);
    assert_ne!(before, after);
    publish(&[whoami, net]);
    assert_eq!(rules_of(2), [(1, "Whoami Execution".to_string()), (4, "Net user".to_string())]);

    // A broken pack is refused; the running one stays.
    std::fs::write(rules.join("broken.yml"), NET.replace("condition: selection", "condition: selection and")).unwrap();
    crate::nats_support::signal(w.pid(), "HUP");
    w.wait_metric("sigmata_reloads_total", 2.0, LIMIT);
    let text = w.metrics_text().unwrap();
    assert!(text.contains("sigmata_reloads_total{result=\"failed\"} 1"), "{text}");
    assert_eq!(hash(&w), after);
    let refused = w.last("reload refused; the running pack stays").expect("the refusal is logged");
    assert!(refused["reason"].as_str().unwrap().contains("broken.yml"), "{refused}");
    publish(&[net]);
    assert_eq!(rules_of(3)[2], (5, "Net user".to_string()));
}

#[test]
fn serve_watch_reloads_when_a_rule_file_changes() {
    let Some(nats) = Nats::shared_or_own("serve_watch") else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yml"), crate::RULE).unwrap();
    let stream = nats.stream("EV", &["ev.>"]);
    nats.stream("AL", &["al", "al.>"]);
    let mut args = nats.serve_args(&stream, "c", "al");
    args.extend(["-r".to_string(), dir.path().display().to_string(), "--watch".to_string()]);
    let w = Worker::start(&args, true);
    w.wait_metric("sigmata_pack_rules", 1.0, LIMIT);
    std::fs::write(dir.path().join("s.yml"), NET).unwrap();
    w.wait_metric("sigmata_pack_rules", 2.0, Duration::from_secs(30));
    let reload = w.last("rule pack reloaded").expect("a reload line");
    assert_eq!(reload["trigger"], "rule files changed");
}

#[test]
fn serve_partitions_keep_each_host_on_one_worker() {
    let Some(nats) = Nats::shared_or_own("serve_partitions") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (events, rules, _) = corpus(dir.path(), false);
    let expected = scan(&rules, &events);
    let stream = nats.stream("EV", &["ev.>"]);
    let alerts = nats.stream("AL", &["al", "al.>"]);
    nats.publish("ev", &events, &["--partitions", "2", "--partition-key", "Computer"]);
    let mut workers = Vec::new();
    for k in 0..2 {
        let mut args = nats.serve_args(&stream, "p", "al");
        args.extend(rules.iter().cloned());
        args.extend(
            [
                "--exit-when-idle",
                "-j",
                "1",
                "--partition",
                &format!("{k}/2"),
                "--partition-prefix",
                &nats.subject("ev"),
            ]
            .map(String::from),
        );
        workers.push(Worker::start(&args, false));
    }
    let mut evaluated = Vec::new();
    for w in &mut workers {
        assert_eq!(w.wait(LIMIT), Some(0), "{}", w.log_text());
        evaluated.push(w.last("stopped").unwrap()["events"].as_u64().unwrap());
    }
    let got = nats.read(&alerts, Some("al"));
    check_against_scan(&got, &expected, &stream);
    let mut partition_of: BTreeMap<String, String> = BTreeMap::new();
    for a in &got {
        let host = a["event"]["Computer"].as_str().unwrap_or_default().to_lowercase();
        let subject = a["subject"].as_str().unwrap().to_string();
        let first = partition_of.entry(host.clone()).or_insert_with(|| subject.clone());
        assert_eq!(*first, subject, "host {host} on two partitions");
    }
    assert!(evaluated.iter().all(|n| *n > 0), "a partition had no events: {evaluated:?}");
    eprintln!("2 partitions: events per worker {evaluated:?}, {} hosts each on one partition", partition_of.len());
}

#[test]
fn serve_usage_errors_name_what_is_wrong() {
    let cases: [(&[&str], &str); 6] = [
        (&["--partition", "2/2"], "is not K/N"),
        (&["--metrics", "0.0.0.0:9464"], "not a loopback address"),
        (&["--watch"], "--watch needs the rule folders"),
        // Why, and what to do instead.
        (&["--pipeline", "auditd"], "auditd cannot be served: auditd writes one exec as several records"),
        (&["--pipeline", "auditd"], "or scan the audit log with `sigmata scan --pipeline auditd`"),
        (&["--nats", "nats://127.0.0.1:9"], "cannot connect to NATS at nats://127.0.0.1:9"),
    ];
    for (extra, message) in cases {
        let out = Command::new(bin())
            .args(["serve", "--stream", "S", "--consumer", "c", "--alerts-subject", "a"])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(message), "{extra:?}: {err}");
    }
    // A pack with a refused rule is refused, unless --allow-refused (then
    // the refusal is logged and serve goes on, here to a server that is not there).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), NET).unwrap();
    std::fs::write(dir.path().join("bad.yml"), NET.replace("condition: selection", "condition: selection and"))
        .unwrap();
    let serve = |extra: &[&str]| {
        Command::new(bin())
            .args([
                "serve",
                "--stream",
                "S",
                "--consumer",
                "c",
                "--alerts-subject",
                "a",
                "--nats",
                "nats://127.0.0.1:9",
            ])
            .arg("-r")
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = String::from_utf8_lossy(&serve(&[]).stderr).to_string();
    assert!(refused.contains("1 rule(s) refused (use --allow-refused") && refused.contains("bad.yml"), "{refused}");
    let allowed = String::from_utf8_lossy(&serve(&["--allow-refused"]).stderr).to_string();
    assert!(allowed.contains("rule refused (running without it") && allowed.contains("cannot connect"), "{allowed}");
}
