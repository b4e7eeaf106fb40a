//! A deterministic, seeded generator of realistic Windows process-creation events.
//!
//! [`Generator`] simulates a small company fleet (workstations, developer machines and servers of
//! `corp.example.com`) and emits one flat Sysmon event 1 (Process Create) record per call, in the
//! shape of the Sysmon corpora the project tests against. Events come from scenarios: service
//! starts, COM activations, scheduled tasks, browsers and their child processes, Office, developer
//! tool chains, administration scripts, Windows Update, backup and anti-virus agents, and rarely
//! an attack. Parent fields always describe a process of the same host that either started before
//! the capture or has an event of its own earlier in the stream.
//!
//! Everything is derived from the seed through `ChaCha8Rng` and integer arithmetic only, so a seed
//! gives the same bytes on every run and platform.
//!
//! ```
//! let mut g = sigmata_corpus::Generator::new(7);
//! let event = g.next_event();
//! assert_eq!(event["EventID"], 1);
//! let mut out = Vec::new();
//! sigmata_corpus::write_jsonl(7, 10, &mut out).unwrap();
//! assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 10);
//! ```

mod fleet;
mod rng;
mod scenarios;
mod text;

use std::collections::{HashMap, VecDeque};
use std::io::Write;

use serde_json::{Map, Value};

use fleet::{Fleet, Proc, Who};
use rng::Rand;

/// What an event is, as the generator intended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Ordinary fleet activity.
    Benign,
    /// Benign activity written to share words with an attack (`powershell -Encoding UTF8`,
    /// `certutil -hashfile`, a local `.hta`, `cmd.exe` started by Explorer, …): what a rule must
    /// not match.
    NearMiss,
    /// Command-line abuse: what detection rules are for.
    Attack,
}

/// Every key of an event, in the order [`write_jsonl`] writes them (Sysmon's logged order).
pub const FIELDS: [&str; 27] = [
    "EventID",
    "Channel",
    "Computer",
    "TimeCreated",
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "CommandLine",
    "CurrentDirectory",
    "User",
    "LogonGuid",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
    "ParentUser",
];

/// 2026-11-03 00:00:00 UTC, where every generated stream starts.
const START_UNIX_S: u64 = 1_793_664_000;

/// The event generator. Cheap to create; every call to [`Generator::next_event`] is O(1).
pub struct Generator {
    rng: Rand,
    fleet: Fleet,
    /// Milliseconds since the Unix epoch of the last event.
    clock_ms: u64,
    queue: VecDeque<(Value, Kind)>,
    last_kind: Kind,
    /// `Hashes` values by image path: the same image always has the same hashes.
    hashes: HashMap<String, String>,
}

impl Generator {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Generator {
        let mut rng = Rand::new(seed);
        let fleet = Fleet::new(&mut rng, START_UNIX_S);
        Generator {
            rng,
            fleet,
            clock_ms: START_UNIX_S * 1000,
            queue: VecDeque::new(),
            last_kind: Kind::Benign,
            hashes: HashMap::new(),
        }
    }

    /// The next event: a flat JSON object with the keys of [`FIELDS`] (`EventID`, `ProcessId`,
    /// `ParentProcessId` and `TerminalSessionId` are integers, everything else a string).
    pub fn next_event(&mut self) -> Value {
        while self.queue.is_empty() {
            // Time passes between scenarios; events within one are milliseconds apart.
            self.clock_ms += 20 + self.rng.below(700) as u64;
            scenarios::run(self);
        }
        let (event, kind) = self.queue.pop_front().expect("a scenario emits at least one event");
        self.last_kind = kind;
        event
    }

    /// The kind of the event last returned by [`Generator::next_event`].
    pub fn kind_of_last(&self) -> Kind {
        self.last_kind
    }

    /// [`Generator::spawn`] of a benign process in the account's usual directory.
    fn start(&mut self, parent: &Proc, who: Who, image: &str, cmd: impl Into<String>) -> Proc {
        self.spawn(parent, who, image, cmd, "", Kind::Benign)
    }

    /// Queue the creation of a process by `parent` (on the parent's host) and return it, for use
    /// as a parent in turn. An empty `cwd` means the account's usual directory.
    fn spawn(&mut self, parent: &Proc, who: Who, image: &str, cmd: impl Into<String>, cwd: &str, kind: Kind) -> Proc {
        let cmd = cmd.into();
        self.clock_ms += 1 + self.rng.below(120) as u64;
        let now_ms = self.clock_ms;
        let pid = self.rng.pid();
        let h = parent.host;
        let host = &mut self.fleet.hosts[h];
        let guid = host.process_guid(now_ms / 1000);
        let account = host.account(who);
        let user = account.name.clone();
        let cwd = if cwd.is_empty() {
            match who {
                Who::User | Who::Admin | Who::Low => format!(r"C:\Users\{}\", host.user),
                Who::AppPool => r"C:\Windows\system32\inetsrv\".to_string(),
                _ => r"C:\Windows\system32\".to_string(),
            }
        } else {
            cwd.to_string()
        };
        let meta = fleet::meta(image);
        let hashes = self.hashes.entry(image.to_string()).or_insert_with(|| fleet::hashes(image)).clone();
        let (utc, created) = text::timestamps(now_ms);

        let mut m = Map::new();
        m.insert("EventID".into(), 1.into());
        m.insert("Channel".into(), "Microsoft-Windows-Sysmon/Operational".into());
        m.insert("Computer".into(), host.fqdn.clone().into());
        m.insert("TimeCreated".into(), created.into());
        m.insert("RuleName".into(), "-".into());
        m.insert("UtcTime".into(), utc.into());
        m.insert("ProcessGuid".into(), guid.clone().into());
        m.insert("ProcessId".into(), pid.into());
        m.insert("Image".into(), image.into());
        m.insert("FileVersion".into(), meta.version.into());
        m.insert("Description".into(), meta.description.into());
        m.insert("Product".into(), meta.product.into());
        m.insert("Company".into(), meta.company.into());
        m.insert("OriginalFileName".into(), meta.original.into());
        m.insert("CommandLine".into(), cmd.clone().into());
        m.insert("CurrentDirectory".into(), cwd.into());
        m.insert("User".into(), user.clone().into());
        m.insert("LogonGuid".into(), account.logon_guid.clone().into());
        m.insert("LogonId".into(), format!("0x{:x}", account.logon_id).into());
        m.insert("TerminalSessionId".into(), account.session.into());
        m.insert("IntegrityLevel".into(), who.integrity().into());
        m.insert("Hashes".into(), hashes.into());
        m.insert("ParentProcessGuid".into(), parent.guid.clone().into());
        m.insert("ParentProcessId".into(), parent.pid.into());
        m.insert("ParentImage".into(), parent.image.clone().into());
        m.insert("ParentCommandLine".into(), parent.cmd.clone().into());
        m.insert("ParentUser".into(), parent.user.clone().into());
        self.queue.push_back((Value::Object(m), kind));

        Proc { host: h, pid, guid, image: image.to_string(), cmd, user }
    }
}

/// Write `count` events of the stream of `seed` as JSONL, keys in [`FIELDS`] order.
pub fn write_jsonl(seed: u64, count: usize, out: &mut impl Write) -> std::io::Result<()> {
    let mut generator = Generator::new(seed);
    let mut line = Vec::with_capacity(4096);
    for _ in 0..count {
        let event = generator.next_event();
        line.clear();
        write_event(&event, &mut line)?;
        out.write_all(&line)?;
    }
    out.flush()
}

/// One event as a JSON line. The key order is fixed here rather than left to `serde_json::Map`,
/// whose order depends on whether some other crate of the build enabled `preserve_order`.
fn write_event(event: &Value, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.push(b'{');
    for (i, key) in FIELDS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, &event[*key])?;
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}
