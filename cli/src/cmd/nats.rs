//! `sigmata nats stream|publish|read`: the few NATS JetStream operations a
//! user needs around `serve` (create the streams, publish a JSONL file, read
//! the alerts), so that the service can be tried and tested with nothing but
//! `nats-server` and this binary. They talk to the server through the same
//! client as `serve` (`async-nats`).

use std::io::{BufRead, Write};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

use crate::args::{NatsArgs, NatsCommand, NatsPublishArgs, NatsReadArgs, NatsStreamArgs};
use crate::{Failure, Outcome};

pub const STREAM_HELP: &str = "\
Creates the stream if no stream of that name exists (an existing stream is
left as it is, and its subjects are printed). File storage keeps messages
across server restarts. A repeated Nats-Msg-Id within --duplicate-window is
dropped: `serve` gives each alert one, so that alerts published again after a
redelivery are not stored twice.

Examples:
  sigmata nats stream EVENTS --subjects 'events.>'
  sigmata nats stream ALERTS --subjects 'alerts,alerts.>' --duplicate-window 600";

pub const PUBLISH_HELP: &str = "\
Each non-empty line is published as one message, as it is (lines are not
parsed, so malformed ones reach `serve` and its dead-letter subject), with
JetStream acknowledgement: when the command ends, the stream has every line.

--partitions N publishes a line to <SUBJECT>.<n> where n is the FNV-1a (32-bit)
hash of the lower-cased text of --partition-key, modulo N; lines without the
key, or that are not JSON objects, go to <SUBJECT>.0. Every event of one host
then lands on one partition, which `serve --partition K/N` consumes alone.

Examples:
  sigmata nats publish --subject events.sysmon events.jsonl
  sigmata nats publish --subject events --partitions 3 --partition-key Computer events.jsonl
  tail -f events.jsonl | sigmata nats publish --subject events.live";

pub const READ_HELP: &str = "\
Prints the payload of every message of the stream, one per line, from the
first; stops at the message that was last when it started, or with --follow
keeps printing new ones.

Examples:
  sigmata nats read ALERTS
  sigmata nats read ALERTS --subject alerts.dead
  sigmata nats read ALERTS --follow | jq .rule_title";

/// Runs a `nats` subcommand.
pub fn run(c: &NatsCommand) -> Result<Outcome, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("cannot start the I/O runtime: {e}")))?;
    runtime.block_on(async {
        match c {
            NatsCommand::Stream(a) => create_stream(a).await,
            NatsCommand::Publish(a) => publish(a).await,
            NatsCommand::Read(a) => read(a).await,
        }
    })
}

/// Connects to the servers of `--nats`. `serve` (`service`) reconnects
/// forever and logs connection changes; a failure to reach the server at
/// startup is an error in every case.
pub async fn connect(a: &NatsArgs, service: bool) -> Result<async_nats::Client, Failure> {
    let mut options = async_nats::ConnectOptions::new()
        .name(if service { "sigmata serve" } else { "sigmata nats" })
        .connection_timeout(Duration::from_secs(5))
        // Quick first retries so that a restarted server is found again
        // within a second or two; at most 2 s between attempts.
        .reconnect_delay_callback(|n| Duration::from_millis(50u64 << n.min(5)).min(Duration::from_secs(2)));
    if service {
        options = options.max_reconnects(None).event_callback(|event| async move {
            let text = event.to_string();
            match event {
                async_nats::Event::Connected => crate::serve::info("NATS connection", &[("event", text.into())]),
                _ => crate::serve::warn("NATS connection", &[("event", text.into())]),
            }
        });
    }
    let servers: Vec<&str> = a.url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    options
        .connect(servers.as_slice())
        .await
        .map_err(|e| Failure::io(format!("cannot connect to NATS at {}: {e}", a.url)))
}

async fn create_stream(a: &NatsStreamArgs) -> Result<Outcome, Failure> {
    let js = jetstream::new(connect(&a.nats, false).await?);
    if let Ok(mut existing) = js.get_stream(&a.name).await {
        let info = existing.info().await.map_err(|e| Failure::io(format!("stream '{}': {e}", a.name)))?;
        println!(
            "stream {} exists: subjects {}, {} messages (left as it is)",
            a.name,
            info.config.subjects.join(","),
            info.state.messages
        );
        return Ok(Outcome::Yes);
    }
    let config = stream::Config {
        name: a.name.clone(),
        subjects: a.subjects.clone(),
        storage: if a.memory { stream::StorageType::Memory } else { stream::StorageType::File },
        duplicate_window: Duration::from_secs(a.duplicate_window),
        ..Default::default()
    };
    js.create_stream(config).await.map_err(|e| Failure::io(format!("cannot create stream '{}': {e}", a.name)))?;
    println!("stream {} created: subjects {}", a.name, a.subjects.join(","));
    Ok(Outcome::Yes)
}

/// FNV-1a, 32 bits: the partition hash (documented, so that collectors
/// written in any language can compute the same partition).
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The subject of one line under `--partitions`.
fn partition_subject(a: &NatsPublishArgs, n: u32, line: &str) -> String {
    let key = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| match v.get(&a.partition_key)? {
        serde_json::Value::String(s) => Some(s.to_lowercase()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    });
    let p = key.map_or(0, |k| fnv1a32(k.as_bytes()) % n);
    format!("{}.{p}", a.subject)
}

async fn publish(a: &NatsPublishArgs) -> Result<Outcome, Failure> {
    if a.partitions == Some(0) {
        return Err(Failure::usage("--partitions must be at least 1"));
    }
    let js = jetstream::new(connect(&a.nats, false).await?);
    let inputs = if a.inputs.is_empty() { vec![std::path::PathBuf::from("-")] } else { a.inputs.clone() };
    // Acknowledgements are awaited in a window, so that publishing is not
    // one round trip per line.
    const WINDOW: usize = 512;
    let mut pending = std::collections::VecDeque::new();
    let mut published = 0u64;
    for path in &inputs {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file =
                std::fs::File::open(path).map_err(|e| Failure::io(format!("cannot read {}: {e}", path.display())))?;
            Box::new(std::io::BufReader::new(file))
        };
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| Failure::io(format!("reading {}: {e}", path.display())))?;
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let subject = match a.partitions {
                Some(n) => partition_subject(a, n, &String::from_utf8_lossy(line)),
                None => a.subject.clone(),
            };
            let ack = js.publish(subject, bytes::Bytes::copy_from_slice(line)).await.map_err(|e| {
                Failure::io(format!(
                    "publishing {}:{}: {e} (does a stream capture the subject?)",
                    path.display(),
                    i + 1
                ))
            })?;
            pending.push_back(ack);
            if pending.len() >= WINDOW {
                await_ack(pending.pop_front()).await?;
            }
            published += 1;
        }
    }
    while let Some(ack) = pending.pop_front() {
        await_ack(Some(ack)).await?;
    }
    let target = match a.partitions {
        Some(n) => format!("{}.0 … {}.{}", a.subject, a.subject, n - 1),
        None => a.subject.clone(),
    };
    eprintln!("published {published} messages to {target}");
    Ok(Outcome::Yes)
}

async fn await_ack(ack: Option<jetstream::context::PublishAckFuture>) -> Result<(), Failure> {
    match ack {
        Some(ack) => {
            ack.await.map(|_| ()).map_err(|e| Failure::io(format!("the server did not acknowledge a message: {e}")))
        }
        None => Ok(()),
    }
}

async fn read(a: &NatsReadArgs) -> Result<Outcome, Failure> {
    let js = jetstream::new(connect(&a.nats, false).await?);
    let mut stream = js.get_stream(&a.stream).await.map_err(|e| Failure::io(format!("stream '{}': {e}", a.stream)))?;
    let info = stream.info().await.map_err(|e| Failure::io(format!("stream '{}': {e}", a.stream)))?;
    let last = info.state.last_sequence;
    if last == 0 && !a.follow {
        return Ok(Outcome::No);
    }
    // An ordered consumer: ephemeral, no acks, gaps recovered by the client.
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: a.subject.clone().unwrap_or_default(),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| Failure::io(format!("cannot read stream '{}': {e}", a.stream)))?;
    let mut messages =
        consumer.messages().await.map_err(|e| Failure::io(format!("cannot read stream '{}': {e}", a.stream)))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printed = 0u64;
    loop {
        // Without --follow, a filtered read may have nothing left to
        // deliver before `last`: the consumer's pending count says so.
        let next = if a.follow {
            messages.next().await
        } else {
            match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                Ok(m) => m,
                Err(_) => break,
            }
        };
        let Some(msg) = next else { break };
        let msg = msg.map_err(|e| Failure::io(format!("reading stream '{}': {e}", a.stream)))?;
        let info = msg.info().map_err(|e| Failure::io(format!("reading stream '{}': {e}", a.stream)))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        out.write_all(&msg.payload).and_then(|()| out.write_all(b"\n")).map_err(|e| Failure::io(e.to_string()))?;
        printed += 1;
        if a.follow {
            out.flush().map_err(|e| Failure::io(e.to_string()))?;
        } else if seq >= last || pending == 0 {
            break;
        }
    }
    out.flush().map_err(|e| Failure::io(e.to_string()))?;
    Ok(if printed > 0 { Outcome::Yes } else { Outcome::No })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_is_the_published_function() {
        // Test vectors of the FNV reference (Fowler, Noll, Vo).
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn partitions_follow_the_lower_cased_key() {
        let a = NatsPublishArgs {
            nats: NatsArgs { url: String::new() },
            subject: "events".into(),
            partitions: Some(4),
            partition_key: "Computer".into(),
            inputs: Vec::new(),
        };
        let host = |h: &str| partition_subject(&a, 4, &format!(r#"{{"Computer": "{h}", "Image": "x"}}"#));
        assert_eq!(host("WKS-01.corp"), host("wks-01.CORP"));
        assert_eq!(host("wks-01.corp"), format!("events.{}", fnv1a32(b"wks-01.corp") % 4));
        assert_eq!(partition_subject(&a, 4, "not json"), "events.0");
        assert_eq!(partition_subject(&a, 4, r#"{"Image": "no key"}"#), "events.0");
    }
}
