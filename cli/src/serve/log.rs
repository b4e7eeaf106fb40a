//! What `serve` says on stderr: one line per event, for people
//! (`sigmata serve: warn: message key=value …`) or, with `--log-format json`,
//! one JSON object per line (`{"ts", "level", "msg", …fields}`) for a log
//! shipper.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};

static JSON: OnceLock<bool> = OnceLock::new();

/// Chooses the format once, at startup.
pub fn init(json: bool) {
    let _ = JSON.set(json);
}

/// Writes one log line; `fields` are extra key/value pairs.
pub fn log(level: &str, msg: &str, fields: &[(&str, Value)]) {
    let line = if JSON.get().copied().unwrap_or(false) {
        let mut obj = Map::new();
        obj.insert("ts".into(), jiff::Timestamp::now().to_string().into());
        obj.insert("level".into(), level.into());
        obj.insert("msg".into(), msg.into());
        for (k, v) in fields {
            obj.insert((*k).into(), v.clone());
        }
        Value::Object(obj).to_string()
    } else {
        let mut s = format!("sigmata serve: {level}: {msg}");
        for (k, v) in fields {
            match v {
                Value::String(t) => s.push_str(&format!(" {k}={t}")),
                other => s.push_str(&format!(" {k}={other}")),
            }
        }
        s
    };
    // A closed stderr is no reason to stop detecting.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `log("info", …)`.
pub fn info(msg: &str, fields: &[(&str, Value)]) {
    log("info", msg, fields);
}

/// `log("warn", …)`.
pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    log("warn", msg, fields);
}

/// `log("error", …)`.
pub fn error(msg: &str, fields: &[(&str, Value)]) {
    log("error", msg, fields);
}
