//! The rule pack a `serve` process runs: the engine, its field mapping, the
//! alert printer and its correlations with their state, built together from
//! the command line and swapped whole on reload (so a reload starts the
//! correlations empty). A batch of messages is evaluated with one `Pack`, so no
//! event ever sees half of one pack and half of another.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use rayon::prelude::*;
use sigmata::correlate::Prepared;
use sigmata::{Engine, RuleId};

use crate::args::{EngineKind, ScanFormat, ServeArgs};
use crate::eval::{Evaluator, Worker, echo_text};
use crate::output::{Loc, Printer, Tally};
use crate::pipeline::{Mapper, Pipelines};
use crate::rules;

use super::correlate::{Completed, Correlating};
use super::metrics::Metrics;

/// A loaded pack.
pub struct Pack {
    engine: Engine,
    mapper: Mapper,
    printer: Printer,
    /// The first 16 hex digits of the pack's SHA-256 (see `rules::Loaded::digest`).
    pub hash: String,
    /// Rules loaded.
    pub rules: usize,
    /// Rules refused (only with `--allow-refused`): the reasons, for the log.
    pub refused: Vec<String>,
    /// The correlations and their state (`None`: the pack has none).
    pub correlating: Option<Correlating>,
    /// Per rule: what names it in a `Nats-Msg-Id` (its id, or its title).
    keys: Vec<String>,
    /// Idle evaluation state, reused across batches.
    idle: Mutex<Vec<Worker>>,
}

/// One event message as fetched.
pub struct Delivery {
    /// Its stream sequence.
    pub seq: u64,
    /// Its subject.
    pub subject: String,
    /// Its bytes.
    pub payload: bytes::Bytes,
    /// True when the server delivered it before.
    pub redelivered: bool,
}

/// What to do with a message.
pub enum Verdict {
    /// Publish these alerts (none: the event matched nothing), then ack.
    /// `corr` is what the event contributes to correlations, until fed
    /// (then its correlation alerts are among `alerts`).
    Alerts { alerts: Vec<Alert>, corr: Option<Prepared> },
    /// The event said it is not process creation: ack.
    Skipped,
    /// Not an event: publish to the dead-letter subject with the reason, then ack.
    Dead(String),
}

/// One (event, rule) match or correlation alert, ready to publish.
#[derive(Clone)]
pub struct Alert {
    /// The `Nats-Msg-Id`: the same for every redelivery of the event.
    pub msg_id: String,
    /// The alert object: the `scan` JSONL match plus `stream_seq` and `subject`.
    pub payload: bytes::Bytes,
    /// The rule's level (for the metrics).
    pub level: Option<&'static str>,
    /// True for a correlation alert.
    pub correlation: bool,
}

/// Where the messages come from (for alert objects and message ids).
pub struct Origin {
    /// The stream's name (an alert's `source`).
    pub stream: String,
    /// The consumer's name (part of message ids, so that two deployments
    /// reading the same stream do not drop each other's alerts).
    pub consumer: String,
}

impl Pack {
    /// Loads the rules and mapping `a` names. Refused rules make the pack
    /// fail unless `--allow-refused`; the error lists them.
    pub fn load(a: &ServeArgs) -> Result<Pack, String> {
        let pipelines = Pipelines::parse(&a.pipelines).map_err(|e| e.to_string())?;
        if pipelines.auditd() {
            return Err("--pipeline auditd cannot be served: auditd writes one exec as several records (SYSCALL, \
                        EXECVE, CWD, PATH), which would arrive as separate messages, possibly at different \
                        workers, and serve evaluates one message as one event; merge the records into one event \
                        per exec before publishing (as auoms or msticpy do), or scan the audit log with \
                        `sigmata scan --pipeline auditd`, which joins them"
                .into());
        }
        let loaded = rules::load_correlated(&a.rules, rules::Need::Evaluate).map_err(|e| e.to_string())?;
        let report = &loaded.report;
        if !report.errors.is_empty() && !a.allow_refused {
            let mut msg = format!("{} rule(s) refused (use --allow-refused to run without them):", report.errors.len());
            for e in report.errors.iter().take(10) {
                msg.push_str(&format!("\n  {e}"));
            }
            if report.errors.len() > 10 {
                msg.push_str(&format!("\n  … and {} more (see `sigmata check`)", report.errors.len() - 10));
            }
            return Err(msg);
        }
        loaded.require_rules(&a.rules).map_err(|e| e.to_string())?;
        let routing = rules::routing(&a.rules, &loaded).map_err(|e| e.to_string())?;
        let engine = loaded.engine;
        let keys = engine.rules().map(|(_, lr)| lr.rule.id.clone().unwrap_or_else(|| lr.rule.title.clone())).collect();
        let correlating = Correlating::new(
            &engine,
            &loaded.correlations,
            &a.correlation.time_fields,
            a.correlation.correlator_config(),
        );
        Ok(Pack {
            correlating,
            mapper: Mapper::new(&engine, &pipelines, routing),
            printer: Printer::new(&engine, ScanFormat::Jsonl, false),
            hash: loaded.digest[..16].to_string(),
            rules: engine.len(),
            refused: loaded.report.errors.iter().map(|e| e.to_string()).collect(),
            keys,
            idle: Mutex::new(Vec::new()),
            engine,
        })
    }

    /// Evaluates a batch on the pool's threads; verdicts in batch order.
    pub fn evaluate(
        &self,
        pool: &rayon::ThreadPool,
        origin: &Origin,
        batch: &[Delivery],
        max_bytes: usize,
        metrics: &Metrics,
    ) -> Vec<Verdict> {
        let source_json = serde_json::Value::from(origin.stream.as_str()).to_string();
        let source: Arc<str> = origin.stream.as_str().into();
        pool.install(|| {
            batch
                .par_iter()
                .map_init(
                    || Lease {
                        pack: self,
                        worker: self.idle.lock().ok().and_then(|mut w| w.pop()),
                        tally: Tally::default(),
                    },
                    |lease, d| {
                        let start = Instant::now();
                        let verdict = self.one(lease, origin, (&source_json, &source), d, max_bytes);
                        metrics.eval_seconds.observe(start.elapsed().as_secs_f64());
                        verdict
                    },
                )
                .collect()
        })
    }

    fn one(
        &self,
        lease: &mut Lease<'_>,
        origin: &Origin,
        (source_json, source): (&str, &Arc<str>),
        d: &Delivery,
        max_bytes: usize,
    ) -> Verdict {
        if d.payload.len() > max_bytes {
            return Verdict::Dead(format!(
                "message of {} bytes is longer than --max-message-bytes {max_bytes}",
                d.payload.len()
            ));
        }
        let text = match std::str::from_utf8(&d.payload) {
            Ok(t) => t.strip_prefix('\u{feff}').unwrap_or(t),
            Err(e) => return Verdict::Dead(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
        };
        if text.trim().is_empty() {
            return Verdict::Dead("empty message".into());
        }
        let w = lease.worker.get_or_insert_with(|| Worker::new(&self.engine, false));
        let evaluator = Evaluator { engine: &self.engine, mapper: &self.mapper, kind: EngineKind::Compiled };
        match evaluator.text(w, &mut lease.tally, text) {
            Err(reason) => Verdict::Dead(reason),
            Ok(None) => Verdict::Skipped,
            Ok(Some(_)) => {
                let event = echo_text(text);
                let at = Loc { source: &origin.stream, source_json, line: d.seq, record: None };
                let subject = serde_json::Value::from(d.subject.as_str()).to_string();
                let corr = self.correlating.as_ref();
                let alerts = w
                    .matches
                    .iter()
                    .filter(|id| corr.is_none_or(|c| c.generates(*id)))
                    .map(|id| self.alert(id, &at, &event, &subject, origin))
                    .collect();
                let corr = corr.and_then(|c| c.prepare(&self.engine, &self.mapper, &w.matches, text, source, d.seq));
                Verdict::Alerts { alerts, corr }
            }
        }
    }

    /// The alert object: exactly `scan`'s JSONL match (through the same
    /// printer), with the stream sequence and subject added at the end.
    fn alert(&self, id: RuleId, at: &Loc<'_>, event: &str, subject_json: &str, origin: &Origin) -> Alert {
        let mut out = Vec::with_capacity(256 + event.len());
        self.printer.write_match(&mut out, &self.engine, id, at, event, None);
        // The printer ends the object with "}\n".
        out.truncate(out.len().saturating_sub(2));
        out.extend_from_slice(format!(",\"stream_seq\":{},\"subject\":{subject_json}}}", at.line).as_bytes());
        Alert {
            msg_id: format!("{}:{}:{}:{}", origin.stream, origin.consumer, at.line, self.keys[id.index()]),
            payload: out.into(),
            level: self.engine.rule(id).level.map(|l| l.as_str()),
            correlation: false,
        }
    }

    /// Feeds the batch's contributions to the correlator in batch order
    /// (the one place it is fed), adding each message's correlation alerts
    /// to its verdict.
    pub fn correlate(&self, verdicts: &mut [Verdict], batch: &[Delivery], origin: &Origin) {
        let Some(c) = &self.correlating else { return };
        for (v, d) in verdicts.iter_mut().zip(batch) {
            let Verdict::Alerts { alerts, corr } = v else { continue };
            let Some(p) = corr.take() else { continue };
            let mut done = Vec::new();
            c.feed(p, d.seq, &d.subject, d.redelivered, &mut done, alerts);
            alerts.extend(done.iter().map(|a| self.correlation_alert(c, a, origin)));
        }
    }

    /// Ends the correlations' input (at a stop): their last alerts.
    pub fn finish_correlations(&self, origin: &Origin) -> Vec<Alert> {
        let Some(c) = &self.correlating else { return Vec::new() };
        c.finish().iter().map(|a| self.correlation_alert(c, a, origin)).collect()
    }

    /// A correlation alert: `scan`'s correlation object plus the stream
    /// sequence and subject of the message it is attributed to. Its
    /// `Nats-Msg-Id` names that message, the correlation, the group and the
    /// window's start, so that publishing it again is dropped as a repeat.
    fn correlation_alert(&self, c: &Correlating, done: &Completed, origin: &Origin) -> Alert {
        let a = &done.alert;
        let mut v = crate::corr_out::alert_json(&self.engine, c.set(), a);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("stream_seq".into(), done.seq.into());
            obj.insert("subject".into(), done.subject.as_str().into());
        }
        let doc = &c.set().rules()[a.correlation].doc;
        let key = doc.id.as_deref().unwrap_or(&doc.title);
        let group: Vec<String> = a.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let group = crate::cmd::nats::fnv1a32(group.join("\u{1f}").as_bytes());
        Alert {
            msg_id: format!("{}:{}:{}:{key}:{group:08x}:{}", origin.stream, origin.consumer, done.seq, a.first_time),
            payload: v.to_string().into(),
            level: doc.level.map(|l| l.as_str()),
            correlation: true,
        }
    }
}

/// A worker taken from the pack's idle list for one rayon task, given back
/// when the task is done.
struct Lease<'p> {
    pack: &'p Pack,
    worker: Option<Worker>,
    tally: Tally,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(w), Ok(mut idle)) = (self.worker.take(), self.pack.idle.lock()) {
            idle.push(w);
        }
    }
}

/// The rule, placeholder and pipeline files with their sizes and times.
pub type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// What `--watch` compares: every rule file's path, size and modification
/// time, and the same for the placeholder and pipeline files. Polling works
/// the same on every file system and with editors that replace a file by
/// renaming another over it.
pub fn fingerprint(a: &ServeArgs) -> Fingerprint {
    let mut files: Vec<PathBuf> = Vec::new();
    for root in &a.rules.rules {
        files.extend(rules::rule_files(root).unwrap_or_default());
    }
    files.extend(a.rules.placeholders.iter().cloned());
    files.extend(a.rules.bundle.iter().cloned());
    if a.rules.verify_key.is_some() {
        files.extend(a.rules.bundle.iter().map(|b| crate::signature::sig_path(b)));
    }
    files.extend(a.pipelines.iter().map(PathBuf::from).filter(|p| p.is_file()));
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let (len, modified) = meta.map_or((0, None), |m| (m.len(), m.modified().ok()));
            (p, len, modified)
        })
        .collect()
}
