//! What the `serve` tests need around a real `nats-server`: starting one on
//! 127.0.0.1 (a free port, a temporary store) or using the one CI started
//! (`SIGMATA_TEST_NATS_URL`), running `sigmata serve` workers that are
//! killed when dropped, and reading alerts back. Nothing here is a mock:
//! every message goes through the server.
//!
//! Without a `nats-server` binary the tests say so and pass, unless
//! `SIGMATA_REQUIRE_NATS` is set (as `.ci/run` sets it), which makes a
//! missing server a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `sigmata` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sigmata")
}

/// The nats-server binary, if installed.
fn server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIGMATA_NATS_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Says why a test did not run, or fails it when CI requires NATS.
fn skip(test: &str, why: &str) {
    if std::env::var_os("SIGMATA_REQUIRE_NATS").is_some() {
        panic!("{test}: {why}, and SIGMATA_REQUIRE_NATS is set");
    }
    // Written past the test harness's capture, so that a skip is seen
    // in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "{test}: SKIPPED: {why} (install it with `apt-get install nats-server`; .ci/run does)"
    );
}

/// A free port on 127.0.0.1 (the listener is closed before the port is used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A NATS server for one test: its own, or CI's.
pub struct Nats {
    pub url: String,
    /// Prefix of every stream and subject this test creates (CI's server
    /// is shared by every test).
    pub prefix: String,
    own: Option<Server>,
}

/// A nats-server process this test started.
struct Server {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl Server {
    fn start(binary: &Path, port: u16, store: tempfile::TempDir) -> Server {
        let log = std::fs::File::create(store.path().join("server.log")).expect("server log");
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path().join("js"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        let server = Server { child: Some(child), port, store };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on 127.0.0.1:{port}: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.store.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server as a restart does (SIGTERM; JetStream flushes).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            wait(&mut c, Duration::from_secs(15), "nats-server");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Nats {
    /// CI's server if `SIGMATA_TEST_NATS_URL` is set, else a new one; `None`
    /// (test skipped, said on stderr) if there is no nats-server.
    pub fn shared_or_own(test: &str) -> Option<Nats> {
        let prefix =
            format!("{}{}", test.replace(|c: char| !c.is_ascii_alphanumeric(), "").to_uppercase(), std::process::id());
        if let Ok(url) = std::env::var("SIGMATA_TEST_NATS_URL") {
            return Some(Nats { url, prefix, own: None });
        }
        Nats::own(test, prefix)
    }

    /// A server of this test's own (one it can restart).
    pub fn own_server(test: &str) -> Option<Nats> {
        Nats::own(test, test.replace(|c: char| !c.is_ascii_alphanumeric(), "").to_uppercase())
    }

    fn own(test: &str, prefix: String) -> Option<Nats> {
        let Some(binary) = server_binary() else {
            skip(test, "nats-server is not installed");
            return None;
        };
        let port = free_port();
        let server = Server::start(&binary, port, tempfile::tempdir().expect("temp dir"));
        Some(Nats { url: format!("nats://127.0.0.1:{port}"), prefix, own: Some(server) })
    }

    /// Restarts this test's own server on the same port and store.
    pub fn restart(&mut self) {
        let binary = server_binary().expect("nats-server was found before");
        let mut old = self.own.take().expect("only a test's own server is restarted");
        old.stop();
        let (port, store) = (old.port, std::mem::replace(&mut old.store, tempfile::tempdir().expect("temp dir")));
        self.own = Some(Server::start(&binary, port, store));
    }

    /// `sigmata nats stream NAME --subjects ...` (NAME and subjects prefixed).
    pub fn stream(&self, name: &str, subjects: &[&str]) -> String {
        let name = self.name(name);
        let subjects: Vec<String> = subjects.iter().map(|s| self.subject(s)).collect();
        run_ok(Command::new(bin()).args([
            "nats",
            "stream",
            "--nats",
            &self.url,
            &name,
            "--subjects",
            &subjects.join(","),
        ]));
        name
    }

    pub fn name(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    pub fn subject(&self, subject: &str) -> String {
        format!("{}.{subject}", self.prefix.to_lowercase())
    }

    /// `sigmata nats publish` of a file to a (prefixed) subject.
    pub fn publish(&self, subject: &str, file: &Path, extra: &[&str]) {
        let subject = self.subject(subject);
        run_ok(
            Command::new(bin())
                .args(["nats", "publish", "--nats", &self.url, "--subject", &subject])
                .args(extra)
                .arg(file),
        );
    }

    /// Every message of a stream, as JSON (`sigmata nats read`).
    pub fn read(&self, stream: &str, subject: Option<&str>) -> Vec<Value> {
        let mut cmd = Command::new(bin());
        cmd.args(["nats", "read", "--nats", &self.url, stream]);
        if let Some(s) = subject {
            cmd.args(["--subject", &self.subject(s)]);
        }
        let out = cmd.output().expect("sigmata nats read runs");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "nats read failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("alert is not JSON: {e}: {l}")))
            .collect()
    }

    /// The `serve` arguments that name this server, the events stream, the
    /// consumer and the alerts subject.
    pub fn serve_args(&self, stream: &str, consumer: &str, alerts: &str) -> Vec<String> {
        [
            "serve",
            "--nats",
            &self.url,
            "--stream",
            stream,
            "--consumer",
            consumer,
            "--alerts-subject",
            &self.subject(alerts),
        ]
        .map(String::from)
        .to_vec()
    }
}

/// Runs a command that must succeed.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("command runs");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{name} {pid} failed");
}

/// Waits for a process to end, killing it (and failing) after `limit`.
fn wait(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `sigmata serve` process (JSON logs kept in a file), killed when dropped.
pub struct Worker {
    child: Option<Child>,
    log: PathBuf,
    /// Its `--metrics` port, if asked for.
    pub metrics_port: Option<u16>,
    _dir: tempfile::TempDir,
}

impl Worker {
    /// Starts `sigmata ARGS --log-format json` (and `--metrics` on a free
    /// port when `metrics`).
    pub fn start(args: &[String], metrics: bool) -> Worker {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("serve.log");
        let mut cmd = Command::new(bin());
        cmd.args(args).args(["--log-format", "json"]);
        let metrics_port = metrics.then(free_port);
        if let Some(p) = metrics_port {
            cmd.args(["--metrics", &format!("127.0.0.1:{p}")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("sigmata serve starts");
        Worker { child: Some(child), log, metrics_port, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Its log lines, parsed.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last log line whose "msg" is `msg`.
    pub fn last(&self, msg: &str) -> Option<Value> {
        self.log().into_iter().rev().find(|l| l["msg"] == msg)
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let status = wait(&mut child, limit, "sigmata serve");
        status.code()
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "KILL");
            let _ = c.wait();
        }
    }

    /// One metric's value from `--metrics` (summed over its label sets);
    /// `None` while the page cannot be read.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics_text()?;
        let mut sum = None;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (key, value) = line.rsplit_once(' ')?;
            let bare = key.split('{').next().unwrap_or(key);
            if bare == name {
                *sum.get_or_insert(0.0) += value.parse::<f64>().ok()?;
            }
        }
        sum
    }

    pub fn metrics_text(&self) -> Option<String> {
        let port = self.metrics_port?;
        let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        conn.read_to_string(&mut text).ok()?;
        let (_, body) = text.split_once("\r\n\r\n")?;
        Some(body.to_string())
    }

    /// Polls until `metric` reaches `at_least` (or fails after `limit`).
    pub fn wait_metric(&self, name: &str, at_least: f64, limit: Duration) -> f64 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.metric(name).filter(|v| *v >= at_least) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not reach {at_least} in {limit:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `sigmata scan` of `file` with `rule_args`: (line, rule id) → match object.
pub fn scan(rule_args: &[String], file: &Path) -> BTreeMap<(u64, String), Value> {
    let out = Command::new(bin())
        .arg("scan")
        .args(rule_args)
        .args(["--format", "jsonl"])
        .arg(file)
        .output()
        .expect("scan runs");
    assert!(out.status.code().is_some_and(|c| c <= 1), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
    // Correlation alerts (the built-in pack has correlations) are compared
    // on their own (serve_corr.rs).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("scan prints JSON"))
        .filter(|v| v.get("correlation").is_none())
        .map(|v| ((v["line"].as_u64().expect("line"), v["rule_id"].as_str().unwrap_or_default().to_string()), v))
        .collect()
}

/// The (stream_seq, rule id) pairs of rule alerts (correlation alerts
/// left out), and how many alerts repeated one.
pub fn alert_pairs(alerts: &[Value]) -> (BTreeSet<(u64, String)>, usize) {
    let mut set = BTreeSet::new();
    let mut repeats = 0;
    for a in alerts.iter().filter(|a| a.get("correlation").is_none()) {
        let key =
            (a["stream_seq"].as_u64().expect("stream_seq"), a["rule_id"].as_str().unwrap_or_default().to_string());
        if !set.insert(key) {
            repeats += 1;
        }
    }
    (set, repeats)
}

/// Polls `read` until its alerts cover `expected` (or fails after `limit`).
pub fn wait_for_alerts(nats: &Nats, stream: &str, expected: &BTreeSet<(u64, String)>, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let alerts = nats.read(stream, None);
        let (got, _) = alert_pairs(&alerts);
        if expected.is_subset(&got) {
            return alerts;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = expected.difference(&got).take(10).collect();
            panic!(
                "{} of {} expected alerts missing after {limit:?}, e.g. {missing:?}",
                expected.difference(&got).count(),
                expected.len()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The events the tests publish, and the rule options they use: the real
/// corpora from ../shared with the SigmaHQ Windows pack when present (CI),
/// else the project's sample events repeated with the built-in pack. Every
/// line is a non-empty event, so the n-th line becomes stream sequence n.
pub fn corpus(dir: &Path, sigmahq: bool) -> (PathBuf, Vec<String>, String) {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let file = dir.join("events.jsonl");
    let mut text = String::new();
    let (rules, what) = if shared.join("corpora/sysmon_1.jsonl").is_file() {
        for name in ["sysmon_1", "security_4688", "linux_sysmon_1"] {
            text.push_str(
                &std::fs::read_to_string(shared.join("corpora").join(format!("{name}.jsonl"))).expect("corpus"),
            );
        }
        let rules = if sigmahq {
            let pc = shared.join("sigma/rules/windows/process_creation");
            vec!["-r".to_string(), pc.display().to_string()]
        } else {
            Vec::new()
        };
        (
            rules,
            format!(
                "../shared corpora (sysmon_1, security_4688, linux_sysmon_1){}",
                if sigmahq { ", SigmaHQ windows/process_creation" } else { ", built-in pack" }
            ),
        )
    } else {
        eprintln!("../shared is absent: using corpora/sample.jsonl ×30 and the built-in pack");
        let sample = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpora/sample.jsonl"))
            .expect("sample");
        for _ in 0..30 {
            text.push_str(&sample);
        }
        (Vec::new(), "corpora/sample.jsonl ×30, built-in pack".to_string())
    };
    let text: String = text.lines().filter(|l| !l.trim().is_empty()).flat_map(|l| [l, "\n"]).collect();
    std::fs::write(&file, text).expect("events file");
    (file, rules, what)
}
