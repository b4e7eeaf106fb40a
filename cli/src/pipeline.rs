//! Field-mapping pipelines: how the fields rules name (Sysmon's `Image`,
//! `CommandLine`, `User` …) are found in events of other shapes.
//!
//! A pipeline maps a rule field to a [`Source`] in the event: a key (a
//! dotted name reaches nested objects and dotted keys alike), the values of
//! several keys, or a value derived from keys (the 4688 `User` is
//! `SubjectDomainName\SubjectUserName`). Pipelines given with `--pipeline`
//! apply in order, as pySigma applies processing pipelines to a rule: the
//! first renames the rule's field, the next renames the result, and so on
//! ([`Pipelines::resolve`]).
//!
//! `auto` (the default) chooses per event from what the event says it is
//! ([`detect`]): Sysmon event 1 is read as is, Security 4688 through the
//! `security-4688` mapping, anything else as is. Events that say they are
//! some other Sysmon or Security event are not process creation and are
//! skipped when the rules are process_creation rules ([`Routed::Skip`]).
//!
//! [`Mapper`] is the fast path: the JSON reader reads every key any mapping
//! needs into its own record slot (slots beyond the engine's fields are
//! ignored by evaluation), so an event whose kind maps identically (Sysmon)
//! is evaluated straight from that record, and any other kind is projected
//! into a second record with one pass over the engine's fields.
//! [`MappedEvent`] is the slow path used by `--engine reference` and by
//! `--fields`: it looks every source up by name in a `serde_json::Value`.
//! CI diffs the two over every corpus.

pub mod auditd;

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;
use sigmata::ir::{FieldId, FieldTable};
use sigmata::yaml::Yaml;
use sigmata::{Engine, Event, JsonError, JsonReader, Record, Value};

use crate::Failure;

/// Where a rule field's values come from in an event (names before they
/// are bound to record slots).
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The values of one key path.
    Key(String),
    /// The values of every alternative the event has (a pySigma mapping to
    /// a list of names); present if any alternative is.
    AnyOf(Vec<Source>),
    /// One value computed from the first value of each argument.
    Derive(Derive, Vec<Source>),
}

impl Source {
    fn key(name: &str) -> Source {
        Source::Key(name.to_string())
    }

    /// Replaces every key by what `f` maps it to.
    fn substitute(&self, f: &impl Fn(&str) -> Source) -> Source {
        match self {
            Source::Key(k) => f(k),
            Source::AnyOf(alts) => Source::AnyOf(alts.iter().map(|a| a.substitute(f)).collect()),
            Source::Derive(d, args) => Source::Derive(*d, args.iter().map(|a| a.substitute(f)).collect()),
        }
    }
}

/// Values computed from other fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Derive {
    /// Sysmon's `User` from a 4688 event: `(SubjectUserSid, SubjectDomainName,
    /// SubjectUserName)` → `DOMAIN\name`, and the well-known service
    /// accounts as Sysmon writes them (`S-1-5-18` → `NT AUTHORITY\SYSTEM`;
    /// 4688 names SYSTEM by the machine account, `HOST$`).
    WindowsUser,
    /// `MandatoryLabel` SID → Sysmon's `IntegrityLevel` word
    /// (`S-1-16-4096` Low, `8192` Medium, `12288` High, `16384` System);
    /// other labels are kept as they are.
    IntegrityLevel,
    /// `0x1fc` → `508` (4688 writes process ids in hexadecimal, Sysmon in decimal).
    HexToDecimal,
    /// `(domain, name)` → `domain\name`, or `name` without a domain.
    DomainUser,
    /// `(sha1, md5, sha256, imphash)` → Sysmon's `Hashes` string
    /// `SHA1=…,MD5=…,SHA256=…,IMPHASH=…`.
    Hashes,
}

impl Derive {
    /// Computes the value from the arguments' first values (`None` = absent).
    pub fn apply(self, args: &[Option<String>]) -> Option<String> {
        let arg = |i: usize| args.get(i).and_then(|a| a.as_deref());
        match self {
            Derive::WindowsUser => {
                let well_known = match arg(0) {
                    Some("S-1-5-18") => Some("NT AUTHORITY\\SYSTEM"),
                    Some("S-1-5-19") => Some("NT AUTHORITY\\LOCAL SERVICE"),
                    Some("S-1-5-20") => Some("NT AUTHORITY\\NETWORK SERVICE"),
                    _ => None,
                };
                if let Some(w) = well_known {
                    return Some(w.to_string());
                }
                join_user(arg(1), arg(2))
            }
            Derive::DomainUser => join_user(arg(0), arg(1)),
            Derive::IntegrityLevel => {
                let label = arg(0)?;
                Some(
                    match label.trim() {
                        "S-1-16-0" => "Untrusted",
                        "S-1-16-4096" => "Low",
                        "S-1-16-8192" => "Medium",
                        "S-1-16-12288" => "High",
                        "S-1-16-16384" => "System",
                        other => other,
                    }
                    .to_string(),
                )
            }
            Derive::HexToDecimal => {
                let text = arg(0)?;
                let t = text.trim();
                match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(hex) => {
                        Some(u64::from_str_radix(hex, 16).map_or_else(|_| text.to_string(), |n| n.to_string()))
                    }
                    None => Some(text.to_string()),
                }
            }
            Derive::Hashes => {
                let parts: Vec<String> = ["SHA1", "MD5", "SHA256", "IMPHASH"]
                    .iter()
                    .enumerate()
                    .filter_map(|(i, name)| {
                        arg(i).filter(|v| !v.is_empty()).map(|v| format!("{name}={}", v.to_uppercase()))
                    })
                    .collect();
                (!parts.is_empty()).then(|| parts.join(","))
            }
        }
    }
}

fn join_user(domain: Option<&str>, name: Option<&str>) -> Option<String> {
    let name = name?;
    Some(match domain {
        Some(d) if !d.is_empty() && d != "-" => format!("{d}\\{name}"),
        _ => name.to_string(),
    })
}

/// What a mapping does with a field it does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rest {
    /// Reads the key of the same name.
    Identity,
    /// Winlogbeat: reads `winlog.event_data.<name>` (names without a dot;
    /// dotted names are already ECS names and are read as they are).
    WinlogEventData,
}

/// One field-name mapping.
#[derive(Clone, Debug)]
pub struct Mapping {
    map: HashMap<String, Source>,
    rest: Rest,
}

impl Mapping {
    fn identity() -> Mapping {
        Mapping { map: HashMap::new(), rest: Rest::Identity }
    }

    fn lookup(&self, name: &str) -> Source {
        if let Some(s) = self.map.get(name) {
            return s.clone();
        }
        match self.rest {
            Rest::Identity => Source::key(name),
            Rest::WinlogEventData if name.contains('.') => Source::key(name),
            Rest::WinlogEventData => Source::key(&format!("winlog.event_data.{name}")),
        }
    }

    /// Security event 4688 read as Sysmon event 1.
    fn security_4688() -> Mapping {
        use Derive::*;
        let k = Source::key;
        let map = [
            ("Image", k("NewProcessName")),
            ("ParentImage", k("ParentProcessName")),
            (
                "User",
                Source::Derive(WindowsUser, vec![k("SubjectUserSid"), k("SubjectDomainName"), k("SubjectUserName")]),
            ),
            ("IntegrityLevel", Source::Derive(IntegrityLevel, vec![k("MandatoryLabel")])),
            ("LogonId", k("SubjectLogonId")),
            ("ProcessId", Source::Derive(HexToDecimal, vec![k("NewProcessId")])),
            // 4688's `ProcessId` is the creator's.
            ("ParentProcessId", Source::Derive(HexToDecimal, vec![k("ProcessId")])),
        ];
        Mapping { map: map.into_iter().map(|(n, s)| (n.to_string(), s)).collect(), rest: Rest::Identity }
    }

    /// Elastic Common Schema (Elastic Endpoint, Winlogbeat): ECS names
    /// first, then Winlogbeat's copy of the Windows event data.
    fn ecs() -> Mapping {
        use Derive::*;
        let k = Source::key;
        let both = |ecs: &str, name: &str| Source::AnyOf(vec![k(ecs), k(&format!("winlog.event_data.{name}"))]);
        let mut map: HashMap<String, Source> = [
            ("CommandLine", "process.command_line"),
            ("Image", "process.executable"),
            ("ParentImage", "process.parent.executable"),
            ("ParentCommandLine", "process.parent.command_line"),
            ("OriginalFileName", "process.pe.original_file_name"),
            ("Description", "process.pe.description"),
            ("Product", "process.pe.product"),
            ("Company", "process.pe.company"),
            ("FileVersion", "process.pe.file_version"),
            ("CurrentDirectory", "process.working_directory"),
            ("ProcessId", "process.pid"),
            ("ParentProcessId", "process.parent.pid"),
            ("ProcessGuid", "process.entity_id"),
            ("ParentProcessGuid", "process.parent.entity_id"),
            ("md5", "process.hash.md5"),
            ("sha1", "process.hash.sha1"),
            ("sha256", "process.hash.sha256"),
            ("Imphash", "process.pe.imphash"),
        ]
        .into_iter()
        .map(|(n, e)| (n.to_string(), both(e, n)))
        .collect();
        map.insert(
            "User".into(),
            Source::AnyOf(vec![
                Source::Derive(DomainUser, vec![k("user.domain"), k("user.name")]),
                k("winlog.event_data.User"),
            ]),
        );
        map.insert(
            "Hashes".into(),
            Source::AnyOf(vec![
                Source::Derive(
                    Hashes,
                    vec![
                        k("process.hash.sha1"),
                        k("process.hash.md5"),
                        k("process.hash.sha256"),
                        k("process.pe.imphash"),
                    ],
                ),
                k("winlog.event_data.Hashes"),
            ]),
        );
        map.insert("EventID".into(), Source::AnyOf(vec![k("winlog.event_id"), k("event.code")]));
        map.insert("Channel".into(), k("winlog.channel"));
        map.insert("Provider_Name".into(), k("winlog.provider_name"));
        map.insert("Computer".into(), Source::AnyOf(vec![k("winlog.computer_name"), k("host.name")]));
        Mapping { map, rest: Rest::WinlogEventData }
    }

    /// Reads the field-name-mapping subset of a pySigma processing pipeline.
    fn from_yaml(path: &Path) -> Result<Vec<Mapping>, Failure> {
        let fail = |m: String| Failure::usage(format!("--pipeline {}: {m}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let docs = sigmata::yaml::parse(&text).map_err(|e| fail(e.to_string()))?;
        let Some(doc) = docs.into_iter().next() else { return Err(fail("empty file".into())) };
        let Some(Yaml::Seq(items)) = doc.value.get("transformations") else {
            return Err(fail("no `transformations:` list".into()));
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let what = item
                .get("id")
                .and_then(Yaml::as_str)
                .map_or_else(|| format!("transformation {}", i + 1), str::to_string);
            let ty = item.get("type").and_then(Yaml::as_str).unwrap_or("");
            if ty != "field_name_mapping" {
                return Err(fail(format!(
                    "{what}: type '{ty}' is not supported (sigmata applies only `field_name_mapping`, to events)"
                )));
            }
            for cond in ["rule_conditions", "detection_item_conditions", "field_name_conditions"] {
                if item.get(cond).is_some() {
                    return Err(fail(format!(
                        "{what}: `{cond}` is not supported (a mapping applies to every event and every rule)"
                    )));
                }
            }
            let Some(Yaml::Map(entries)) = item.get("mapping") else {
                return Err(fail(format!("{what}: `mapping:` must be a map of rule field to event field")));
            };
            let mut map = HashMap::new();
            for (field, target) in entries {
                let source = match target {
                    Yaml::Str(s) => Source::key(s),
                    Yaml::Seq(names) => Source::AnyOf(
                        names
                            .iter()
                            .map(|n| n.as_str().map(Source::key))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| fail(format!("{what}: {field}: names must be strings")))?,
                    ),
                    other => {
                        return Err(fail(format!(
                            "{what}: {field}: expected a field name or a list of names, found {}",
                            other.type_name()
                        )));
                    }
                };
                map.insert(field.clone(), source);
            }
            out.push(Mapping { map, rest: Rest::Identity });
        }
        Ok(out)
    }
}

/// The kinds of event `auto` tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Sysmon event 1 (Windows or Linux).
    Sysmon,
    /// Windows Security event 4688.
    Security4688,
    /// Anything else (read as it is, unless a pipeline says otherwise).
    Other,
}

impl Kind {
    /// Every kind, in index order.
    pub const ALL: [Kind; 3] = [Kind::Sysmon, Kind::Security4688, Kind::Other];

    /// Index into per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in statistics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sysmon => "sysmon",
            Kind::Security4688 => "security_4688",
            Kind::Other => "other",
        }
    }
}

/// What to do with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Evaluate it, read as this kind.
    Eval(Kind),
    /// It says it is not process creation: count it, do not evaluate it.
    Skip,
}

/// Decides an event's kind from its `EventID`, `Channel` and `Provider_Name`
/// (as the pipelines map them).
pub fn detect(event_id: Option<&str>, channel: Option<&str>, provider: Option<&str>) -> Routed {
    let is =
        |v: Option<&str>, names: &[&str]| v.is_some_and(|v| names.iter().any(|n| v.trim().eq_ignore_ascii_case(n)));
    let sysmon = channel.is_some_and(|c| c.trim().to_ascii_lowercase().ends_with("sysmon/operational"))
        || is(provider, &["Microsoft-Windows-Sysmon", "Linux-Sysmon"]);
    let security = is(channel, &["Security"]) || is(provider, &["Microsoft-Windows-Security-Auditing"]);
    let id = event_id.map(str::trim);
    match (sysmon, security, id) {
        (true, _, Some("1")) => Routed::Eval(Kind::Sysmon),
        (true, _, Some(_)) => Routed::Skip,
        (false, true, Some("4688")) => Routed::Eval(Kind::Security4688),
        (false, true, Some(_)) => Routed::Skip,
        (false, false, Some("4688")) => Routed::Eval(Kind::Security4688),
        _ => Routed::Eval(Kind::Other),
    }
}

/// One step of `--pipeline`.
#[derive(Clone, Debug)]
enum Step {
    /// Per event: `security-4688` for 4688 events, identity otherwise.
    Auto,
    /// A mapping applied to every event.
    Map(Mapping),
}

/// The pipelines chosen on the command line, in order.
#[derive(Clone, Debug)]
pub struct Pipelines {
    steps: Vec<Step>,
    auditd: bool,
    /// What was asked for, for messages.
    pub names: Vec<String>,
}

/// The names `--pipeline` accepts besides files.
pub const BUILT_IN: &[&str] = &["auto", "none", "sysmon", "security-4688", "ecs", "auditd"];

impl Pipelines {
    /// Parses `--pipeline` values (built-in names or pySigma pipeline
    /// files). No value means `auto`.
    pub fn parse(specs: &[String]) -> Result<Pipelines, Failure> {
        let specs: Vec<String> = if specs.is_empty() { vec!["auto".into()] } else { specs.to_vec() };
        let mut p = Pipelines { steps: Vec::new(), auditd: false, names: specs.clone() };
        for spec in &specs {
            match spec.as_str() {
                "auto" => p.steps.push(Step::Auto),
                "none" | "sysmon" => {}
                "security-4688" => p.steps.push(Step::Map(Mapping::security_4688())),
                "ecs" => p.steps.push(Step::Map(Mapping::ecs())),
                // auditd records become Sysmon-named events as they are read
                // (see `auditd`); no renaming is left to do.
                "auditd" => p.auditd = true,
                file if Path::new(file).is_file() => {
                    p.steps.extend(Mapping::from_yaml(Path::new(file))?.into_iter().map(Step::Map));
                }
                other => {
                    return Err(Failure::usage(format!(
                        "--pipeline {other}: not a built-in pipeline ({}) nor a file",
                        BUILT_IN.join(", ")
                    )));
                }
            }
        }
        Ok(p)
    }

    /// True if auditd records are to be grouped and normalised.
    pub fn auditd(&self) -> bool {
        self.auditd
    }

    /// True if the mapping depends on the event's kind.
    pub fn auto(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Auto))
    }

    /// Where rule field `name` is found in an event of `kind`.
    pub fn resolve(&self, kind: Kind, name: &str) -> Source {
        let s4688 = Mapping::security_4688();
        let identity = Mapping::identity();
        let mut source = Source::key(name);
        for step in &self.steps {
            let m = match step {
                Step::Map(m) => m,
                Step::Auto if kind == Kind::Security4688 => &s4688,
                Step::Auto => &identity,
            };
            source = source.substitute(&|k| m.lookup(k));
        }
        source
    }
}

/// The fields routing reads: `EventID`, `Channel`, `Provider_Name`.
const ROUTE_FIELDS: [&str; 3] = ["EventID", "Channel", "Provider_Name"];

/// A [`Source`] bound to record slots.
#[derive(Clone, Debug, PartialEq)]
enum Bound {
    Key(FieldId, Box<str>),
    AnyOf(Vec<Bound>),
    Derive(Derive, Vec<Bound>),
}

impl Bound {
    fn bind(s: &Source, table: &mut FieldTable) -> Bound {
        match s {
            Source::Key(k) => Bound::Key(table.intern(k), k.as_str().into()),
            Source::AnyOf(alts) => Bound::AnyOf(alts.iter().map(|a| Bound::bind(a, table)).collect()),
            Source::Derive(d, args) => Bound::Derive(*d, args.iter().map(|a| Bound::bind(a, table)).collect()),
        }
    }

    /// Calls `f` with each value the source has in `event`; returns true if
    /// it is present. Works on a slot [`Record`] (looked up by id) and on a
    /// `serde_json::Value` (looked up by name) alike.
    fn visit(&self, event: &dyn Event, f: &mut dyn FnMut(Value<'_>)) -> bool {
        match self {
            Bound::Key(id, name) => event.field(*id, name, f),
            Bound::AnyOf(alts) => {
                let mut present = false;
                for a in alts {
                    present |= a.visit(event, f);
                }
                present
            }
            Bound::Derive(d, args) => {
                let texts: Vec<Option<String>> = args.iter().map(|a| a.first_text(event)).collect();
                match d.apply(&texts) {
                    Some(v) => {
                        f(Value::Str(&v));
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// Writes the text of the first value to `out`; false if there is none.
    fn first_text_into(&self, event: &dyn Event, out: &mut String) -> bool {
        if let Bound::Key(id, name) = self {
            // The common case, without the closure state of `first_text`.
            let mut done = false;
            event.field(*id, name, &mut |v| {
                if !done {
                    done = v.write_text(out);
                }
            });
            return done;
        }
        match self.first_text(event) {
            Some(t) => {
                out.push_str(&t);
                true
            }
            None => false,
        }
    }

    fn first_text(&self, event: &dyn Event) -> Option<String> {
        let mut out = None;
        self.visit(event, &mut |v| {
            if out.is_none() {
                let mut s = String::new();
                if v.write_text(&mut s) {
                    out = Some(s);
                }
            }
        });
        out
    }
}

/// Per-thread scratch of a [`Mapper`].
#[derive(Debug, Default)]
pub struct Slots {
    raw: Record,
    mapped: Record,
    /// The routing fields' texts, reused so that routing does not allocate.
    route: [String; 3],
}

/// The compiled pipelines for one engine.
#[derive(Debug)]
pub struct Mapper {
    reader: JsonReader,
    /// Per kind: the source of each engine field, or `None` if the kind
    /// reads every engine field under its own name.
    kinds: [Option<Vec<(FieldId, Bound)>>; 3],
    route: [Bound; 3],
    routing: bool,
    keywords: bool,
    engine_fields: usize,
}

impl Mapper {
    /// Compiles `pipelines` for `engine`. `routing`: skip events that say
    /// they are not process creation.
    pub fn new(engine: &Engine, pipelines: &Pipelines, routing: bool) -> Mapper {
        let mut table = engine.fields().clone();
        // Only the fields the loaded rules read: the table also names those of
        // rules that were refused or not applicable, which no event needs.
        let engine_fields: Vec<(FieldId, String)> = engine.read_fields().map(|(id, n)| (id, n.to_string())).collect();
        let kinds = Kind::ALL.map(|kind| {
            let sources: Vec<(FieldId, Bound)> = engine_fields
                .iter()
                .map(|(id, name)| (*id, Bound::bind(&pipelines.resolve(kind, name), &mut table)))
                .collect();
            let identity = sources.iter().all(|(id, b)| matches!(b, Bound::Key(slot, _) if slot == id));
            (!identity).then_some(sources)
        });
        let route = ROUTE_FIELDS.map(|f| Bound::bind(&pipelines.resolve(Kind::Other, f), &mut table));
        // Every key any source needs, each read into its own slot.
        let mut keys = Vec::new();
        let mut all: Vec<&Bound> = route.iter().collect();
        for k in kinds.iter().flatten() {
            all.extend(k.iter().map(|(_, b)| b));
        }
        fn collect<'a>(b: &'a Bound, out: &mut Vec<(FieldId, &'a str)>) {
            match b {
                Bound::Key(id, name) => out.push((*id, name)),
                Bound::AnyOf(alts) | Bound::Derive(_, alts) => alts.iter().for_each(|a| collect(a, out)),
            }
        }
        all.iter().for_each(|b| collect(b, &mut keys));
        // Identity kinds read engine fields under their own names.
        if kinds.iter().any(Option::is_none) {
            keys.extend(engine_fields.iter().map(|(id, n)| (*id, n.as_str())));
        }
        keys.sort_by_key(|(id, _)| *id);
        keys.dedup();
        let reader = JsonReader::new(keys.iter().copied(), engine.needs_keywords());
        Mapper {
            reader,
            kinds,
            route,
            routing,
            keywords: engine.needs_keywords(),
            engine_fields: engine.fields().len(),
        }
    }

    /// Number of fields the engine knows (record slots below it are rule fields).
    pub fn engine_fields(&self) -> usize {
        self.engine_fields
    }

    /// Reads the text of one JSON object.
    pub fn read_json(&self, slots: &mut Slots, json: &str) -> Result<(), JsonError> {
        self.reader.fill(&mut slots.raw, json)
    }

    /// Reads an event that was already parsed (evtx records, auditd groups).
    pub fn read_event(&self, slots: &mut Slots, event: &dyn Event) {
        self.reader.fill_event(&mut slots.raw, event)
    }

    /// Decides what to do with the event just read and returns the record
    /// to evaluate (the one read, or its projection for the event's kind).
    pub fn route<'s>(&self, slots: &'s mut Slots) -> (Routed, Option<&'s Record>) {
        let mut present = [false; 3];
        for ((source, text), present) in self.route.iter().zip(&mut slots.route).zip(&mut present) {
            text.clear();
            *present = source.first_text_into(&slots.raw, text);
        }
        let routed = {
            let text = |i: usize| present[i].then_some(slots.route[i].as_str());
            detect(text(0), text(1), text(2))
        };
        let kind = match routed {
            Routed::Skip if self.routing => return (Routed::Skip, None),
            Routed::Skip => Kind::Other,
            Routed::Eval(k) => k,
        };
        let Some(sources) = &self.kinds[kind.index()] else {
            return (Routed::Eval(kind), Some(&slots.raw));
        };
        let Slots { raw, mapped, .. } = slots;
        mapped.clear();
        for (id, source) in sources {
            if source.visit(raw, &mut |v| mapped.push(*id, v)) {
                mapped.set_present(*id);
            }
        }
        if self.keywords {
            mapped.push_keywords_of(raw);
        }
        (Routed::Eval(kind), Some(mapped))
    }

    fn kind_of(&self, event: &dyn Event) -> Routed {
        let [id, channel, provider] = &self.route;
        detect(
            id.first_text(event).as_deref(),
            channel.first_text(event).as_deref(),
            provider.first_text(event).as_deref(),
        )
    }

    /// The slow path: what to do with a parsed event, and the event as the
    /// rules see it.
    pub fn map_value<'e>(&'e self, engine: &'e Engine, event: &'e Json) -> (Routed, MappedEvent<'e>) {
        let routed = self.kind_of(event);
        let kind = match routed {
            Routed::Eval(k) => k,
            Routed::Skip => Kind::Other,
        };
        let routed = if routed == Routed::Skip && !self.routing { Routed::Eval(Kind::Other) } else { routed };
        (routed, MappedEvent { event, sources: self.kinds[kind.index()].as_deref(), fields: engine.fields(), kind })
    }
}

/// A `serde_json::Value` event seen through a kind's mapping: each rule
/// field is looked up by name.
#[derive(Debug)]
pub struct MappedEvent<'e> {
    event: &'e Json,
    sources: Option<&'e [(FieldId, Bound)]>,
    fields: &'e FieldTable,
    kind: Kind,
}

impl MappedEvent<'_> {
    /// The values of field `name` as the rules see them, as JSON (one value,
    /// or an array of several); `None` if absent.
    pub fn json_field(&self, pipelines: &Pipelines, name: &str) -> Option<Json> {
        let mut values = Vec::new();
        let present = match self.fields.get(name) {
            Some(id) => self.field(id, name, &mut |v| values.push(to_json(v))),
            // Not a rule field: resolve it the same way.
            None => Bound::bind(&pipelines.resolve(self.kind, name), &mut FieldTable::new())
                .visit(self.event, &mut |v| values.push(to_json(v))),
        };
        present.then(|| if values.len() == 1 { values.pop().unwrap_or(Json::Null) } else { Json::Array(values) })
    }
}

fn to_json(v: Value<'_>) -> Json {
    match v {
        Value::Null | Value::Object => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => i.into(),
        Value::UInt(u) => u.into(),
        Value::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.to_string()),
    }
}

impl Event for MappedEvent<'_> {
    fn field(&self, id: FieldId, name: &str, visit: &mut dyn FnMut(Value<'_>)) -> bool {
        match self.sources.and_then(|s| s.get(id.index())) {
            Some((sid, source)) if *sid == id => source.visit(self.event, visit),
            _ => self.event.field(id, name, visit),
        }
    }

    fn values(&self, visit: &mut dyn FnMut(Value<'_>)) {
        self.event.values(visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_compose_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yml");
        std::fs::write(
            &file,
            "name: t\ntransformations:\n  - id: m\n    type: field_name_mapping\n    mapping:\n      NewProcessName: proc.path\n      CommandLine: [cmd, args]\n",
        )
        .unwrap();
        let p = Pipelines::parse(&["security-4688".into(), file.display().to_string()]).unwrap();
        assert_eq!(p.resolve(Kind::Other, "Image"), Source::key("proc.path"));
        assert_eq!(p.resolve(Kind::Other, "CommandLine"), Source::AnyOf(vec![Source::key("cmd"), Source::key("args")]));
        let auto = Pipelines::parse(&[]).unwrap();
        assert_eq!(auto.resolve(Kind::Sysmon, "Image"), Source::key("Image"));
        assert_eq!(auto.resolve(Kind::Security4688, "Image"), Source::key("NewProcessName"));
    }

    #[test]
    fn unsupported_pipeline_items_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yml");
        std::fs::write(&file, "transformations:\n  - type: add_condition\n    conditions: {a: b}\n").unwrap();
        let e = Pipelines::parse(&[file.display().to_string()]).unwrap_err().to_string();
        assert!(e.contains("add_condition") && e.contains("not supported"), "{e}");
        assert!(Pipelines::parse(&["nope".into()]).unwrap_err().to_string().contains("not a built-in"));
    }

    #[test]
    fn derived_values() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(Derive::WindowsUser.apply(&[s("S-1-5-18"), s("CORP"), s("PC01$")]), s("NT AUTHORITY\\SYSTEM"));
        assert_eq!(Derive::WindowsUser.apply(&[s("S-1-5-21-1"), s("CORP"), s("alice")]), s("CORP\\alice"));
        assert_eq!(Derive::WindowsUser.apply(&[None, None, s("alice")]), s("alice"));
        assert_eq!(Derive::IntegrityLevel.apply(&[s("S-1-16-12288")]), s("High"));
        assert_eq!(Derive::IntegrityLevel.apply(&[s("S-1-16-8208")]), s("S-1-16-8208"));
        assert_eq!(Derive::HexToDecimal.apply(&[s("0x1fc")]), s("508"));
        assert_eq!(Derive::HexToDecimal.apply(&[s("77")]), s("77"));
        assert_eq!(Derive::Hashes.apply(&[s("ab"), None, s("cd"), None]), s("SHA1=AB,SHA256=CD"));
        assert_eq!(Derive::Hashes.apply(&[None, None, None, None]), None);
    }

    #[test]
    fn detection_follows_channel_and_event_id() {
        let sysmon = Some("Microsoft-Windows-Sysmon/Operational");
        assert_eq!(detect(Some("1"), sysmon, None), Routed::Eval(Kind::Sysmon));
        assert_eq!(detect(Some("3"), sysmon, None), Routed::Skip);
        assert_eq!(detect(Some("4688"), Some("Security"), None), Routed::Eval(Kind::Security4688));
        assert_eq!(detect(Some("4624"), Some("Security"), None), Routed::Skip);
        assert_eq!(detect(Some("1"), None, Some("Linux-Sysmon")), Routed::Eval(Kind::Sysmon));
        assert_eq!(detect(Some("4688"), None, None), Routed::Eval(Kind::Security4688));
        assert_eq!(detect(Some("7"), None, None), Routed::Eval(Kind::Other));
        assert_eq!(detect(None, None, None), Routed::Eval(Kind::Other));
    }
}
