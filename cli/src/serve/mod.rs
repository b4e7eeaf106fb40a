//! `sigmata serve`: a long-running detector on NATS JetStream.
//!
//! The loop: fetch a batch from a durable pull consumer (at most
//! `--max-inflight` messages held), evaluate it on the rayon pool with the
//! pack loaded now, and hand each message to a task that publishes its
//! alerts with JetStream acknowledgement and then acknowledges the message.
//! Acks go in order of completion. The contract, in order of importance:
//!
//! - **At-least-once.** A message is acknowledged only after every alert it
//!   produced was acknowledged by the server (or, for a message that is not
//!   an event, after its dead letter was). A process that dies at any point
//!   leaves its unacknowledged messages to be redelivered after the
//!   consumer's ack wait. Alerts carry a `Nats-Msg-Id` built from the stream,
//!   consumer, stream sequence and rule, so that the alerts stream's
//!   duplicate window drops the repeats a redelivery publishes.
//! - **No event sees two packs.** A batch is evaluated with one `Arc<Pack>`;
//!   a reload swaps the pointer between batches (`arc-swap`).
//! - **Nothing is dropped silently.** A message is an evaluated event, an
//!   event routed away as not process creation (counted), or a dead letter
//!   (counted, with the reason).
//! - **Shutdown finishes what it holds.** SIGTERM or SIGINT stops fetching;
//!   the messages already delivered are evaluated, published and acked, and
//!   the process exits 0.

pub mod correlate;
pub mod log;
pub mod metrics;
pub mod pack;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::{FutureExt, StreamExt};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::args::{LogFormat, ServeArgs};
use crate::cmd::nats::connect;
use crate::{Failure, Outcome};
use metrics::Metrics;
use pack::{Delivery, Fingerprint, Origin, Pack, Verdict};
use tokio::signal::unix::Signal;

pub use log::{error, info, warn};

/// The longest a fetch waits for messages (so that a stop is noticed within it).
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// The most messages one fetch asks for.
const MAX_BATCH: usize = 256;
/// Publication attempts per alert before the event is handed back (nak).
const PUBLISH_ATTEMPTS: u32 = 8;
/// The consumer's `max_ack_pending` when serve creates it: the bound over
/// all workers together (each holds at most `--max-inflight`).
const MAX_ACK_PENDING: i64 = 65_536;

pub const HELP: &str = "\
Events: each message of --stream is one JSON event (a JSONL line); Windows
records are flattened and --pipeline maps fields as for `scan`. Processes
with the same --consumer share the stream's events: start more to scale out.

Alerts: one message per (event, rule) match on --alerts-subject (for
correlation alerts see Correlations), the same JSON object as a `scan` JSONL
match plus \"stream_seq\" and \"subject\":
  {\"rule_id\", \"rule_title\", \"level\", \"tags\", \"rule_path\", \"source\" (the
   stream), \"line\" (the stream sequence), \"event\", \"stream_seq\", \"subject\"}
published with JetStream acknowledgement and a Nats-Msg-Id of
<stream>:<consumer>:<stream_seq>:<rule id>.

Guarantees: at-least-once. An event is acknowledged only after all its alerts
(the correlation alerts it completed included) were acknowledged by the
server; a worker killed at any moment leaves its events to be redelivered
(after --ack-wait) to another worker. Alerts of a redelivered event are
published again; the alerts stream's duplicate window drops those repeats.
Order across workers is not kept.

Bad messages (not JSON, not an object, invalid UTF-8, larger than
--max-message-bytes) are acknowledged and published to --dead-letter-subject
as {\"reason\", \"stream\", \"stream_seq\", \"subject\", \"message\"}.

Signals: SIGTERM or SIGINT stops fetching, finishes and acknowledges the
messages held, and exits 0. SIGHUP (or, with --watch, a changed rule file)
reloads the pack; a pack with refused rules or errors is refused and the
running one kept. Metrics (--metrics) show each pack's hash and rule count.

Correlations: correlation rules of the pack are evaluated as `scan` does
(--time-field, --max-lateness, --max-groups, --max-group-events), on the
matches of this process, fed in the order its messages were fetched. A
correlation alert is `scan`'s correlation object plus \"stream_seq\" and
\"subject\" of the event that completed it, published to --alerts-subject
with a Nats-Msg-Id of <stream>:<consumer>:<stream_seq>:<correlation id>:<group
hash>:<window start> before that event is acknowledged. The state is per
process and in memory; events are acknowledged once their own alerts are
out. So a crash loses the correlations in progress (nothing redelivers their
events); with several workers on one consumer a group's events are split
between them (serve warns): use partitions. A stop (SIGTERM, SIGINT,
--exit-when-idle) ends the input as the end of a file does for `scan`: the
events held for --max-lateness are released, the windows closed, and their
alerts published before exit, attributed to the last event fed (a
correlation with lt/lte/eq/neq is then judged on a window cut short). A
reload starts the new pack's correlations empty; the old state is dropped,
not closed early.

Partitions: collectors that publish one host's events to <prefix>.<n> with
n = hash(host) mod N (`sigmata nats publish --partitions N --partition-key
Computer`) keep each host on one partition; `--partition K/N` consumes
<prefix>.K only, through the durable consumer <consumer>-K, so per-host state
(correlations grouped by host, or by a field such as User that stays on one
host) stays in one process. Start one worker per partition; a worker that dies
is replaced by starting the same --partition again.

Examples:
  sigmata nats stream EVENTS --subjects 'events.>'
  sigmata nats stream ALERTS --subjects 'alerts,alerts.>'
  sigmata serve -r sigma/rules --stream EVENTS --consumer sigmata --alerts-subject alerts
  sigmata serve --stream EVENTS --consumer sigmata --alerts-subject alerts \\
      --metrics 127.0.0.1:9464 --log-format json --watch -r rules/
  sigmata serve --stream EVENTS --consumer sigmata --alerts-subject alerts --partition 0/2
  sigmata nats read ALERTS --follow";

/// What the fetch loop and the per-message tasks share.
struct Shared {
    packs: ArcSwap<Pack>,
    metrics: Arc<Metrics>,
    js: jetstream::Context,
    origin: Origin,
    alerts_subject: String,
    dead_subject: String,
    pool: rayon::ThreadPool,
    max_bytes: usize,
    /// When the first message arrived and the last ack was sent (for
    /// the throughput in the last log line, without startup and idle time).
    busy: std::sync::Mutex<Option<(SystemTime, SystemTime)>>,
}

impl Shared {
    /// Notes activity now.
    fn busy_now(&self) {
        let now = SystemTime::now();
        if let Ok(mut b) = self.busy.lock() {
            b.get_or_insert((now, now)).1 = now;
        }
    }
}

/// Runs `serve` until a stop signal (or, with `--exit-when-idle`, until the
/// consumer is drained).
pub fn run(a: ServeArgs) -> Result<Outcome, Failure> {
    log::init(a.log_format == LogFormat::Json);
    if a.max_inflight == 0 {
        return Err(Failure::usage("--max-inflight must be at least 1"));
    }
    if !(a.ack_wait.is_finite() && a.ack_wait >= 1.0) {
        return Err(Failure::usage("--ack-wait must be at least 1 second"));
    }
    if a.watch && a.rules.rules.is_empty() && a.rules.bundle.is_none() {
        return Err(Failure::usage(
            "--watch needs the rule folders (-r PATH) or the bundle (--bundle PACK) to watch; the built-in pack never changes",
        ));
    }
    let partition = a.partition.as_deref().map(parse_partition).transpose()?;
    let metrics_addr = a.metrics.as_deref().map(metrics::parse_addr).transpose()?;
    // Taken before loading, so that a change made while loading is seen.
    let files = a.watch.then(|| pack::fingerprint(&a));
    let pack = Pack::load(&a).map_err(|e| Failure::usage(format!("cannot load the rule pack: {e}")))?;
    info("rule pack loaded", &[("hash", pack.hash.clone().into()), ("rules", pack.rules.into())]);
    log_refused(&pack);
    correlate::log_loaded(&pack, partition.is_some());
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sigmata-eval-{i}"))
        .build()
        .map_err(|e| Failure::io(format!("cannot start {threads} evaluation threads: {e}")))?;
    // The async side only moves messages; two threads are plenty.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sigmata-io")
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("cannot start the I/O runtime: {e}")))?;
    runtime.block_on(service(a, pack, files, pool, partition, metrics_addr))
}

/// Logs the rules a pack runs without (`--allow-refused`).
fn log_refused(pack: &Pack) {
    for reason in &pack.refused {
        warn("rule refused (running without it: --allow-refused)", &[("reason", reason.as_str().into())]);
    }
}

/// `K/N` with K < N.
fn parse_partition(text: &str) -> Result<(u32, u32), Failure> {
    let bad = || Failure::usage(format!("--partition: '{text}' is not K/N with 0 <= K < N (e.g. 0/3)"));
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

async fn service(
    a: ServeArgs,
    pack: Pack,
    files: Option<Fingerprint>,
    pool: rayon::ThreadPool,
    partition: Option<(u32, u32)>,
    metrics_addr: Option<std::net::SocketAddr>,
) -> Result<Outcome, Failure> {
    // Signals first: until a handler is installed, SIGHUP or SIGTERM would
    // end the process without finishing anything.
    use tokio::signal::unix::{SignalKind, signal};
    let register = |kind: SignalKind| signal(kind).map_err(|e| Failure::io(format!("cannot handle signals: {e}")));
    let (term, int, hup) =
        (register(SignalKind::terminate())?, register(SignalKind::interrupt())?, register(SignalKind::hangup())?);
    let metrics = Arc::new(Metrics::new());
    metrics.set_pack(&pack.hash, pack.rules);
    if let Some(addr) = metrics_addr {
        let listener = metrics::bind(addr).await?;
        tokio::spawn(metrics::serve(listener, metrics.clone()));
        info("metrics", &[("url", format!("http://{addr}/metrics").into())]);
    }
    let client = connect(&a.nats, true).await?;
    let js = jetstream::new(client.clone());
    let (consumer_name, filter) = match partition {
        Some((k, _)) => (format!("{}-{k}", a.consumer), Some(format!("{}.{k}", a.partition_prefix))),
        None => (a.consumer.clone(), a.filter_subject.clone()),
    };
    let consumer = bind_consumer(&js, &a, &consumer_name, filter.as_deref()).await?;
    let dead_subject = a.dead_letter_subject.clone().unwrap_or_else(|| format!("{}.dead", a.alerts_subject));
    for (what, subject) in [("alerts", &a.alerts_subject), ("dead-letter", &dead_subject)] {
        check_captured(&js, &a.stream, what, subject).await?;
    }
    info(
        "consuming",
        &[
            ("stream", a.stream.clone().into()),
            ("consumer", consumer_name.clone().into()),
            ("filter", filter.clone().unwrap_or_default().into()),
            ("alerts", a.alerts_subject.clone().into()),
            ("dead_letters", dead_subject.clone().into()),
            ("threads", pool.current_num_threads().into()),
            ("max_inflight", a.max_inflight.into()),
        ],
    );
    let shared = Arc::new(Shared {
        packs: ArcSwap::from_pointee(pack),
        metrics: metrics.clone(),
        js,
        origin: Origin { stream: a.stream.clone(), consumer: a.consumer.clone() },
        alerts_subject: a.alerts_subject.clone(),
        dead_subject,
        pool,
        max_bytes: a.max_message_bytes,
        busy: std::sync::Mutex::new(None),
    });
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(stop_on_signal(stop_tx, term, int));
    tokio::spawn(reloads(shared.clone(), a.clone(), hup, files));
    tokio::spawn(watch_consumer(consumer.clone(), metrics.clone()));
    tokio::spawn(report_throughput(metrics.clone()));
    let start = Instant::now();
    consume(&shared, &consumer, &a, stop).await;
    correlate::close_at_stop(&shared).await;
    if let Err(e) = client.flush().await {
        warn("flush at exit failed", &[("error", e.to_string().into())]);
    }
    let m = &shared.metrics;
    let busy = shared.busy.lock().ok().and_then(|b| *b);
    let unix = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let (first, last) = busy.map_or((0.0, 0.0), |(f, l)| (unix(f), unix(l)));
    info(
        "stopped",
        &[
            ("first_message_unix_s", first.into()),
            ("last_ack_unix_s", last.into()),
            ("events_per_s", if last > first { (m.events.get() as f64 / (last - first)).round() } else { 0.0 }.into()),
            ("events", m.events.get().into()),
            ("correlation_alerts", m.correlation_alerts.get().into()),
            ("skipped_not_process_creation", m.skipped.get().into()),
            ("acked", m.acked.get().into()),
            ("malformed", m.malformed.get().into()),
            ("dead_lettered", m.dead_lettered.get().into()),
            ("redeliveries", m.redeliveries.get().into()),
            ("inflight", m.inflight.get().into()),
            ("seconds", ((start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0).into()),
        ],
    );
    Ok(Outcome::Yes)
}

/// Finds or creates the durable pull consumer (explicit acks) and checks
/// that an existing one reads what this process was asked to read.
async fn bind_consumer(
    js: &jetstream::Context,
    a: &ServeArgs,
    name: &str,
    filter: Option<&str>,
) -> Result<jetstream::consumer::Consumer<pull::Config>, Failure> {
    let stream = js.get_stream(&a.stream).await.map_err(|e| {
        Failure::io(format!(
            "stream '{}' on {}: {e} (create it with `sigmata nats stream {} --subjects 'events.>'`)",
            a.stream, a.nats.url, a.stream
        ))
    })?;
    let config = pull::Config {
        durable_name: Some(name.to_string()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        deliver_policy: jetstream::consumer::DeliverPolicy::All,
        ack_wait: Duration::from_secs_f64(a.ack_wait),
        filter_subject: filter.unwrap_or_default().to_string(),
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    };
    let consumer: jetstream::consumer::Consumer<pull::Config> =
        stream.get_or_create_consumer(name, config).await.map_err(|e| {
            Failure::io(format!("consumer '{name}' of stream '{}': {e} (a push consumer of that name?)", a.stream))
        })?;
    let existing = &consumer.cached_info().config;
    if existing.filter_subject != filter.unwrap_or_default() {
        return Err(Failure::usage(format!(
            "consumer '{name}' exists with filter subject '{}', but this process would read '{}'; \
             use another --consumer name or delete the consumer",
            existing.filter_subject,
            filter.unwrap_or_default()
        )));
    }
    if existing.ack_policy != jetstream::consumer::AckPolicy::Explicit {
        return Err(Failure::usage(format!("consumer '{name}' exists without explicit acks; serve needs them")));
    }
    Ok(consumer)
}

/// Fails unless some stream other than the events stream captures `subject`.
async fn check_captured(js: &jetstream::Context, events: &str, what: &str, subject: &str) -> Result<(), Failure> {
    match js.stream_by_subject(subject).await {
        Ok(name) if name == events => Err(Failure::usage(format!(
            "the {what} subject '{subject}' is captured by the events stream '{events}': alerts would be read back \
             as events; publish them to a subject of another stream"
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::usage(format!(
            "no JetStream stream captures the {what} subject '{subject}' ({e}); create one, e.g. \
             `sigmata nats stream ALERTS --subjects '{subject},{subject}.>'`"
        ))),
    }
}

/// The fetch loop: batches while not stopped, then waits for every
/// message held to be published and acknowledged.
async fn consume(
    shared: &Arc<Shared>,
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    a: &ServeArgs,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(a.max_inflight));
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::from_millis(100);
    while !*stop.borrow() {
        while tasks.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let want = free.min(MAX_BATCH);
        let batch = match consumer.batch().max_messages(want).expires(FETCH_WAIT).messages().await {
            Ok(b) => b,
            Err(e) => {
                warn(
                    "fetch failed; retrying",
                    &[("error", e.to_string().into()), ("in_s", backoff.as_secs_f64().into())],
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let got = take_batch(shared, batch, &permits, &mut tasks).await;
        if got == 0 && a.exit_when_idle && idle(consumer, &mut tasks).await {
            info("the consumer has nothing pending: exiting (--exit-when-idle)", &[]);
            break;
        }
    }
    if *stop.borrow() {
        info("stopping: finishing the messages held", &[("inflight", shared.metrics.inflight.get().into())]);
    }
    while tasks.join_next().await.is_some() {}
}

/// True when this process holds nothing and the consumer has nothing to
/// deliver and nothing unacknowledged (other workers' messages included).
async fn idle(consumer: &jetstream::consumer::Consumer<pull::Config>, tasks: &mut JoinSet<()>) -> bool {
    while tasks.join_next().await.is_some() {}
    match consumer.get_info().await {
        Ok(info) => info.num_pending == 0 && info.num_ack_pending == 0,
        Err(_) => false,
    }
}

/// Reads one fetch to its end, evaluating what has arrived in groups, and
/// returns how many messages it held. The fetch ends by itself (it asked for
/// at most the free permits, and expires), so a stop never abandons a
/// message that was delivered.
async fn take_batch(
    shared: &Arc<Shared>,
    mut batch: pull::Batch,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) -> usize {
    let mut total = 0;
    loop {
        let first = match batch.next().await {
            None => break,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                warn("fetch ended with an error", &[("error", e.to_string().into())]);
                break;
            }
        };
        let mut group = vec![first];
        let mut ended = false;
        // Whatever else has already arrived joins the group.
        loop {
            match batch.next().now_or_never() {
                Some(Some(Ok(m))) => group.push(m),
                Some(Some(Err(e))) => {
                    warn("fetch ended with an error", &[("error", e.to_string().into())]);
                    ended = true;
                    break;
                }
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        total += group.len();
        evaluate_group(shared, group, permits, tasks).await;
        if ended {
            break;
        }
    }
    total
}

/// Evaluates a group of messages on the pool and starts a task per message
/// to publish its alerts and acknowledge it.
async fn evaluate_group(
    shared: &Arc<Shared>,
    group: Vec<jetstream::Message>,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) {
    let m = &shared.metrics;
    let mut held = Vec::with_capacity(group.len());
    for _ in 0..group.len() {
        // The fetch asked for at most the free permits, and only this loop
        // takes them, so this never waits; a closed semaphore cannot happen.
        match permits.clone().acquire_owned().await {
            Ok(p) => held.push(p),
            Err(_) => return,
        }
    }
    m.inflight.inc_by(group.len() as i64);
    shared.busy_now();
    let deliveries: Vec<Delivery> = group
        .iter()
        .map(|msg| {
            let (seq, delivered) = msg.info().map_or((0, 1), |i| (i.stream_sequence, i.delivered));
            if delivered > 1 {
                m.redeliveries.inc();
            }
            Delivery { seq, subject: msg.subject.to_string(), payload: msg.payload.clone(), redelivered: delivered > 1 }
        })
        .collect();
    let pack = shared.packs.load_full();
    let verdicts = {
        let (shared, pack) = (shared.clone(), pack.clone());
        tokio::task::spawn_blocking(move || {
            let mut v = pack.evaluate(&shared.pool, &shared.origin, &deliveries, shared.max_bytes, &shared.metrics);
            // The one place the correlator is fed: groups are evaluated one
            // after the other, so this is fetch order.
            pack.correlate(&mut v, &deliveries, &shared.origin);
            if let Some(c) = &pack.correlating {
                shared.metrics.set_correlation_state(c.held());
            }
            (v, deliveries)
        })
        .await
    };
    let Ok((verdicts, deliveries)) = verdicts else {
        // The evaluation thread panicked: hand the messages back.
        error("evaluation failed; the messages will be redelivered", &[]);
        for msg in group {
            let _ = msg.ack_with(AckKind::Nak(None)).await;
        }
        m.inflight.dec_by(held.len() as i64);
        return;
    };
    for (((msg, verdict), d), permit) in group.into_iter().zip(verdicts).zip(deliveries).zip(held) {
        match verdict {
            Verdict::Alerts { .. } => m.events.inc(),
            Verdict::Skipped => m.skipped.inc(),
            Verdict::Dead(_) => m.malformed.inc(),
        };
        tasks.spawn(finish(shared.clone(), pack.clone(), msg, d, verdict, permit));
    }
}

/// Publishes a message's alerts (or its dead letter) and then acknowledges
/// it; hands it back (nak) if a publication could not be made (keeping its
/// correlation alerts with `pack`, for the redelivery).
async fn finish(
    shared: Arc<Shared>,
    pack: Arc<Pack>,
    msg: jetstream::Message,
    d: Delivery,
    verdict: Verdict,
    _permit: OwnedSemaphorePermit,
) {
    let m = &shared.metrics;
    let published = match &verdict {
        Verdict::Skipped => true,
        Verdict::Alerts { alerts, .. } => {
            let results = futures_util::future::join_all(
                alerts.iter().map(|al| publish(&shared, &shared.alerts_subject, &al.msg_id, al.payload.clone())),
            )
            .await;
            for (al, ok) in alerts.iter().zip(&results) {
                match (*ok, al.correlation) {
                    (true, false) => m.matched(al.level),
                    (true, true) => {
                        m.correlation_alerts.inc();
                    }
                    (false, _) => {}
                }
            }
            let all = results.iter().all(|ok| *ok);
            if !all && let Some(c) = &pack.correlating {
                // The correlator was fed with this event: a redelivery is not
                // fed again, so its correlation alerts wait here for it.
                c.keep_unsent(d.seq, alerts.iter().filter(|al| al.correlation).cloned().collect());
            }
            all
        }
        Verdict::Dead(reason) => {
            let letter = dead_letter(&shared.origin.stream, &d, reason);
            let id = format!("{}:{}:{}:dead", shared.origin.stream, shared.origin.consumer, d.seq);
            let ok = publish(&shared, &shared.dead_subject, &id, letter).await;
            if ok {
                m.dead_lettered.inc();
            }
            ok
        }
    };
    if published {
        ack(&msg, m, d.seq).await;
        shared.busy_now();
    } else {
        warn("publishing failed; the event is handed back for redelivery", &[("stream_seq", d.seq.into())]);
        let _ = msg.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
    }
    m.inflight.dec();
}

/// The dead letter of a message that is not an event. The message is
/// included as text (invalid UTF-8 replaced), cut at 64 KiB; the original
/// stays in the events stream at `stream_seq`.
fn dead_letter(stream: &str, d: &Delivery, reason: &str) -> bytes::Bytes {
    const KEEP: usize = 64 << 10;
    let cut = &d.payload[..d.payload.len().min(KEEP)];
    let letter = json!({
        "reason": reason,
        "stream": stream,
        "stream_seq": d.seq,
        "subject": d.subject,
        "message": String::from_utf8_lossy(cut),
        "message_bytes": d.payload.len(),
        "message_truncated": d.payload.len() > KEEP,
    });
    letter.to_string().into()
}

/// Publishes with JetStream acknowledgement, retrying with backoff (about
/// 10 s in all: long enough to ride out a server restart). False if every
/// attempt failed.
async fn publish(shared: &Shared, subject: &str, msg_id: &str, payload: bytes::Bytes) -> bool {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let sent = shared
            .js
            .send_publish(
                subject.to_string(),
                jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(msg_id),
            )
            .await;
        let result = match sent {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => return true,
            Err(e) => {
                shared.metrics.publish_errors.inc();
                if attempt == PUBLISH_ATTEMPTS {
                    error("publish failed", &[("subject", subject.into()), ("error", e.into())]);
                    return false;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    false
}

/// Acknowledges a message. A plain ack, not one the server confirms ("double
/// ack"): waiting for the confirmation cost a third of the throughput
/// (14,000 against 21,000 events/s, one worker, benches/scripts/serve.sh on a
/// loaded machine), and an ack that is lost only makes the server redeliver
/// the event, whose alerts then repeat with the same message ids. The
/// client is flushed before the process exits, so a clean stop leaves
/// nothing unacknowledged.
async fn ack(msg: &jetstream::Message, m: &Metrics, seq: u64) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        match msg.ack().await {
            Ok(()) => {
                m.acked.inc();
                return;
            }
            Err(e) if attempt == 5 => {
                // Redelivered after the ack wait; its alerts repeat with the
                // same message ids.
                warn(
                    "ack failed; the event will be redelivered",
                    &[("stream_seq", seq.into()), ("error", e.to_string().into())],
                );
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// Sets `stop` on SIGTERM or SIGINT.
async fn stop_on_signal(stop: watch::Sender<bool>, mut term: Signal, mut int: Signal) {
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info("stop requested", &[("signal", name.into())]);
    let _ = stop.send(true);
}

/// Reloads the pack on SIGHUP and, with `--watch`, when the rule files
/// differ from `seen` (their fingerprint when the running pack was loaded).
async fn reloads(shared: Arc<Shared>, a: ServeArgs, mut hup: Signal, mut seen: Option<Fingerprint>) {
    let a = Arc::new(a);
    let look = |a: &Arc<ServeArgs>| {
        let a = a.clone();
        async move { if a.watch { tokio::task::spawn_blocking(move || pack::fingerprint(&a)).await.ok() } else { None } }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let why = tokio::select! {
            _ = hup.recv() => "SIGHUP",
            _ = tick.tick(), if a.watch => {
                let now = look(&a).await;
                if now == seen {
                    continue;
                }
                // An editor or a checkout may still be writing: wait until
                // two looks a moment apart agree.
                tokio::time::sleep(Duration::from_millis(300)).await;
                if look(&a).await != now {
                    continue;
                }
                "rule files changed"
            }
        };
        // What this load reads; a failed load is not retried until the
        // files change again (or SIGHUP).
        seen = look(&a).await;
        let args = a.clone();
        let loaded = tokio::task::spawn_blocking(move || Pack::load(&args)).await;
        let old = shared.packs.load();
        let refused = match loaded {
            Ok(Ok(pack)) => {
                let fields = [
                    ("trigger", why.into()),
                    ("hash", pack.hash.clone().into()),
                    ("rules", pack.rules.into()),
                    ("previous_hash", old.hash.clone().into()),
                ];
                info("rule pack reloaded", &fields);
                log_refused(&pack);
                if let Some(c) = &old.correlating {
                    // Windows are not closed early: the input goes on.
                    let (groups, buffered) = c.held();
                    warn(
                        "the previous pack's correlation state is discarded; the new pack's correlations start empty",
                        &[("groups", groups.into()), ("buffered_events", buffered.into())],
                    );
                }
                correlate::log_loaded(&pack, a.partition.is_some());
                shared.metrics.set_correlation_state((0, 0));
                shared.metrics.set_pack(&pack.hash, pack.rules);
                shared.metrics.reloaded(true);
                shared.packs.store(Arc::new(pack));
                continue;
            }
            Ok(Err(reason)) => reason,
            Err(e) => format!("the loading thread failed: {e}"),
        };
        let fields = [("trigger", why.into()), ("hash", old.hash.clone().into()), ("reason", refused.into())];
        error("reload refused; the running pack stays", &fields);
        shared.metrics.reloaded(false);
    }
}

/// Refreshes the consumer-lag gauges every few seconds.
async fn watch_consumer(consumer: jetstream::consumer::Consumer<pull::Config>, m: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Ok(info) = consumer.get_info().await {
            m.consumer_pending.set(info.num_pending as i64);
            m.consumer_ack_pending.set(info.num_ack_pending as i64);
        }
    }
}

/// Logs events/s and alerts/s every 10 seconds while there is traffic.
async fn report_throughput(m: Arc<Metrics>) {
    const EVERY: Duration = Duration::from_secs(10);
    let mut tick = tokio::time::interval(EVERY);
    tick.tick().await;
    let mut last = (m.events.get(), m.acked.get());
    loop {
        tick.tick().await;
        let now = (m.events.get(), m.acked.get());
        if now != last {
            let rate = |a: u64, b: u64| ((a - b) as f64 / EVERY.as_secs_f64()).round();
            info(
                "throughput",
                &[
                    ("events_per_s", rate(now.0, last.0).into()),
                    ("acked_per_s", rate(now.1, last.1).into()),
                    ("inflight", m.inflight.get().into()),
                ],
            );
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_k_of_n() {
        assert_eq!(parse_partition("0/3").unwrap(), (0, 3));
        assert_eq!(parse_partition(" 2 / 3 ").unwrap(), (2, 3));
        for bad in ["3/3", "1", "a/2", "1/0", "-1/2"] {
            assert!(parse_partition(bad).unwrap_err().to_string().contains("is not K/N"), "{bad}");
        }
    }

    #[test]
    fn dead_letters_say_why_and_keep_the_message() {
        let d = Delivery {
            seq: 7,
            subject: "events.x".into(),
            payload: bytes::Bytes::from_static(b"not \xffjson"),
            redelivered: false,
        };
        let v: serde_json::Value =
            serde_json::from_slice(&dead_letter("EVENTS", &d, "invalid UTF-8 at byte 4")).unwrap();
        assert_eq!(v["reason"], "invalid UTF-8 at byte 4");
        assert_eq!(
            (v["stream"].as_str(), v["stream_seq"].as_u64(), v["subject"].as_str()),
            (Some("EVENTS"), Some(7), Some("events.x"))
        );
        assert_eq!(v["message"], "not \u{fffd}json");
        let big = Delivery { seq: 1, subject: "s".into(), payload: vec![b'a'; 70_000].into(), redelivered: false };
        let v: serde_json::Value = serde_json::from_slice(&dead_letter("E", &big, "too large")).unwrap();
        assert_eq!(
            (v["message"].as_str().unwrap().len(), v["message_bytes"].as_u64(), v["message_truncated"].as_bool()),
            (65_536, Some(70_000), Some(true))
        );
    }
}
