//! Event time: the text or number of a time field read as milliseconds
//! since the Unix epoch, UTC.

use crate::event::{Event, Value};
use crate::ir::FieldId;

/// Reads a timestamp as milliseconds since the Unix epoch (UTC).
///
/// Accepted forms:
/// - RFC 3339 / ISO 8601 with an offset: `2025-10-22T20:33:27.274Z`,
///   `2025-10-22T22:33:27+02:00`;
/// - the same without an offset, with `T` or a space, read as UTC (Sysmon's
///   `UtcTime`, `2025-10-22 20:33:27.274`);
/// - a number of seconds since the epoch (`1761165207.274`), or of
///   milliseconds when it is 10¹¹ or more (year 5138 in seconds);
/// - auditd's `audit(1761165207.274:812)`.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("audit(") {
        let secs = rest.split(':').next()?;
        return epoch(secs.parse().ok()?);
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(t.parse().ok()?);
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let dt = t.parse::<jiff::civil::DateTime>().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok().map(|ts| ts.as_millisecond())
}

fn epoch(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let ms = if n >= 1e11 { n } else { n * 1000.0 };
    (ms < 1e15).then_some(ms.round() as i64)
}

/// The time of an event: the first of `fields` that holds a readable time.
pub fn event_time(event: &dyn Event, fields: &[(FieldId, String)]) -> Option<i64> {
    for (id, name) in fields {
        let mut found = None;
        event.field(*id, name, &mut |v| {
            if found.is_none() {
                found = match v {
                    Value::Str(s) => parse_time(s),
                    Value::Int(i) => epoch(i as f64),
                    Value::UInt(u) => epoch(u as f64),
                    Value::Float(f) => epoch(f),
                    _ => None,
                };
            }
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn forms() {
        let z = parse_time("2025-10-22T20:33:27.274Z").unwrap();
        assert_eq!(parse_time("2025-10-22 20:33:27.274"), Some(z));
        assert_eq!(parse_time("2025-10-22T20:33:27.274"), Some(z));
        assert_eq!(parse_time("2025-10-22T22:33:27.274+02:00"), Some(z));
        assert_eq!(parse_time("1761165207.274"), Some(z));
        assert_eq!(parse_time("1761165207274"), Some(z));
        assert_eq!(parse_time("audit(1761165207.274:812)"), Some(z));
        assert_eq!(z, 1_761_165_207_274);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("2025-13-01 00:00:00"), None);
    }
}
