//! `serve --metrics ADDR`: the service's counters in the Prometheus text
//! format, on a loopback address. The registry and the exposition format are
//! the official `prometheus-client` crate's; the HTTP side is a few lines
//! that answer `GET /metrics` (one request per connection), so that the
//! service does not carry an HTTP framework for one page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::Failure;

type Labels = Vec<(String, String)>;

/// Everything `serve` counts.
pub struct Metrics {
    registry: Registry,
    /// Events evaluated.
    pub events: Counter,
    /// Events that said they were not process creation (acked, not evaluated).
    pub skipped: Counter,
    /// Alerts published and acknowledged by the server, per rule level.
    pub matches: Family<Labels, Counter>,
    /// Messages that were not an event (not JSON, not an object, too large).
    pub malformed: Counter,
    /// Messages published to the dead-letter subject.
    pub dead_lettered: Counter,
    /// Messages the server delivered more than once.
    pub redeliveries: Counter,
    /// Event messages acknowledged.
    pub acked: Counter,
    /// Publications that failed and were retried, or abandoned (the event is
    /// then negatively acknowledged and redelivered).
    pub publish_errors: Counter,
    /// Evaluation time per event, in seconds.
    pub eval_seconds: Histogram,
    /// From the consumer: messages not yet delivered to any worker.
    pub consumer_pending: Gauge,
    /// From the consumer: messages delivered and not yet acknowledged (all workers).
    pub consumer_ack_pending: Gauge,
    /// Messages this process holds (fetched, not yet acknowledged).
    pub inflight: Gauge,
    /// Reloads of the rule pack, by result (`ok`, `failed`).
    pub reloads: Family<Labels, Counter>,
    /// The loaded pack: 1, labelled with its hash.
    pub pack: Family<Labels, Gauge>,
    /// Rules in the loaded pack.
    pub pack_rules: Gauge,
    /// Correlation alerts published and acknowledged.
    pub correlation_alerts: Counter,
    /// Correlation groups held in memory now (all correlations of the pack).
    pub correlation_groups: Gauge,
    /// Events held for `--max-lateness` before the correlations see them.
    pub correlation_buffered: Gauge,
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sigmata");
        let m = Metrics {
            events: Counter::default(),
            skipped: Counter::default(),
            matches: Family::default(),
            malformed: Counter::default(),
            dead_lettered: Counter::default(),
            redeliveries: Counter::default(),
            acked: Counter::default(),
            publish_errors: Counter::default(),
            // 1 µs to about 4 s.
            eval_seconds: Histogram::new(exponential_buckets(1e-6, 4.0, 12)),
            consumer_pending: Gauge::default(),
            consumer_ack_pending: Gauge::default(),
            inflight: Gauge::default(),
            reloads: Family::default(),
            pack: Family::default(),
            pack_rules: Gauge::default(),
            correlation_alerts: Counter::default(),
            correlation_groups: Gauge::default(),
            correlation_buffered: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("events", "Events evaluated", m.events.clone());
        registry.register(
            "skipped_not_process_creation",
            "Events that say they are not process creation",
            m.skipped.clone(),
        );
        registry.register("matches", "Alerts published and acknowledged, per rule level", m.matches.clone());
        registry.register(
            "malformed",
            "Messages that were not an event (not JSON, not an object, too large)",
            m.malformed.clone(),
        );
        registry.register("dead_lettered", "Messages published to the dead-letter subject", m.dead_lettered.clone());
        registry.register("redeliveries", "Messages delivered more than once", m.redeliveries.clone());
        registry.register("acked", "Event messages acknowledged", m.acked.clone());
        registry.register(
            "publish_errors",
            "Failed publications (retried, or the event redelivered)",
            m.publish_errors.clone(),
        );
        registry.register("eval_seconds", "Evaluation time per event", m.eval_seconds.clone());
        registry.register(
            "consumer_pending",
            "Messages not yet delivered to any worker (consumer lag)",
            m.consumer_pending.clone(),
        );
        registry.register(
            "consumer_ack_pending",
            "Messages delivered and not yet acknowledged, all workers",
            m.consumer_ack_pending.clone(),
        );
        registry.register("inflight", "Messages this process holds", m.inflight.clone());
        registry.register("reloads", "Rule pack reloads by result", m.reloads.clone());
        registry.register("pack_info", "The loaded rule pack (1), labelled with its hash", m.pack.clone());
        registry.register("pack_rules", "Rules in the loaded pack", m.pack_rules.clone());
        registry.register(
            "correlation_alerts",
            "Correlation alerts published and acknowledged",
            m.correlation_alerts.clone(),
        );
        registry.register(
            "correlation_groups",
            "Correlation groups held in this process's memory",
            m.correlation_groups.clone(),
        );
        registry.register(
            "correlation_buffered_events",
            "Events held for --max-lateness before the correlations see them",
            m.correlation_buffered.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts an alert of a rule of `level`.
    pub fn matched(&self, level: Option<&str>) {
        self.matches.get_or_create(&vec![("level".to_string(), level.unwrap_or("none").to_string())]).inc();
    }

    /// Shows the correlator's state: (groups held, events buffered).
    pub fn set_correlation_state(&self, (groups, buffered): (usize, usize)) {
        self.correlation_groups.set(groups as i64);
        self.correlation_buffered.set(buffered as i64);
    }

    /// Counts a reload.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&vec![("result".to_string(), result.to_string())]).inc();
    }

    /// Shows the pack now running.
    pub fn set_pack(&self, hash: &str, rules: usize) {
        self.pack.clear();
        self.pack.get_or_create(&vec![("hash".to_string(), hash.to_string())]).set(1);
        self.pack_rules.set(rules as i64);
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Parses `--metrics ADDR` and refuses anything but a loopback address:
/// the page is unauthenticated.
pub fn parse_addr(text: &str) -> Result<SocketAddr, Failure> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| Failure::usage(format!("--metrics: '{text}' is not an address:port such as 127.0.0.1:9464")))?;
    if !addr.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--metrics: {addr} is not a loopback address; the metrics page has no authentication, \
             so serve it on 127.0.0.1 and let a local agent or proxy export it"
        )));
    }
    Ok(addr)
}

/// Binds `addr` (so that a taken port is an error at startup).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr).await.map_err(|e| Failure::io(format!("--metrics: cannot listen on {addr}: {e}")))
}

/// Answers `GET /metrics` (and `GET /`) until the process ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            // The request head, bounded in size and time.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                true
            });
            if !matches!(read.await, Ok(true)) {
                return;
            }
            let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
            let ok = line.starts_with(b"GET /metrics ") || line.starts_with(b"GET / ");
            let (status, body) =
                if ok { ("200 OK", metrics.render()) } else { ("404 Not Found", "try GET /metrics\n".to_string()) };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
