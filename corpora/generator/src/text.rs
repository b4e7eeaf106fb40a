//! Small text helpers: timestamps, Base64, synthetic hashes and browser feature names.

/// `UtcTime` ("2026-11-03 14:22:05.123") and `TimeCreated` ("2026-11-03T14:22:05.1234567Z", a
/// fraction of a millisecond later, as the event is logged) of a Unix time in milliseconds.
pub(crate) fn timestamps(unix_ms: u64) -> (String, String) {
    let secs = unix_ms / 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let (hh, mm, ss, ms) = (s / 3600, s / 60 % 60, s % 60, unix_ms % 1000);
    let date = format!("{y:04}-{mo:02}-{d:02}");
    let sub = unix_ms.wrapping_mul(7919) % 10_000;
    (format!("{date} {hh:02}:{mm:02}:{ss:02}.{ms:03}"), format!("{date}T{hh:02}:{mm:02}:{ss:02}.{ms:03}{sub:04}Z"))
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A PowerShell `-EncodedCommand` argument: Base64 of the script's UTF-16LE bytes.
pub(crate) fn encoded_command(script: &str) -> String {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64(&utf16)
}

/// FNV-1a, for deriving stable values (hashes, ids) from names rather than from the stream.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `digits` uppercase hex digits expanded from `state` with SplitMix64.
pub(crate) fn hex_from(state: &mut u64, digits: usize) -> String {
    let mut out = String::with_capacity(digits + 16);
    while out.len() < digits {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.push_str(&format!("{:016X}", z ^ (z >> 31)));
    }
    out.truncate(digits);
    out
}

const FEATURE_HEADS: [&str; 30] = [
    "Autofill",
    "Omnibox",
    "Media",
    "Gpu",
    "Network",
    "Privacy",
    "Tab",
    "Download",
    "Sync",
    "Pdf",
    "Shopping",
    "Reading",
    "Password",
    "Canvas",
    "Font",
    "Paint",
    "Scroll",
    "Prerender",
    "Cookie",
    "Storage",
    "Audio",
    "Video",
    "WebRtc",
    "SafeBrowsing",
    "Side",
    "Compose",
    "History",
    "Passkey",
    "Render",
    "Edge",
];
const FEATURE_BODIES: [&str; 20] = [
    "Service",
    "Cache",
    "Worker",
    "Panel",
    "Strip",
    "Prefetch",
    "Memory",
    "Decoder",
    "Layer",
    "Context",
    "Signal",
    "Sandbox",
    "Frame",
    "Preload",
    "Partition",
    "Throttle",
    "Budget",
    "Process",
    "Host",
    "Bridge",
];
const FEATURE_TAILS: [&str; 15] = [
    "Improvements",
    "V2",
    "Experiment",
    "Launch",
    "ForAll",
    "OnIdle",
    "Rollout",
    "Holdback",
    "Refresh",
    "Optimization",
    "Clamp",
    "Default",
    "",
    "Fix",
    "Metrics",
];

/// The name of browser feature number `i` (9,000 distinct names, for example
/// `TabPrefetchRollout`), for `--enable-features` and `--disable-features` lists.
pub(crate) fn feature_name(i: usize) -> String {
    let (a, b, c) = (
        i % FEATURE_HEADS.len(),
        i / FEATURE_HEADS.len() % FEATURE_BODIES.len(),
        i / (FEATURE_HEADS.len() * FEATURE_BODIES.len()) % FEATURE_TAILS.len(),
    );
    format!("{}{}{}", FEATURE_HEADS[a], FEATURE_BODIES[b], FEATURE_TAILS[c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_time() {
        // 2026-11-03 14:22:05.123 UTC
        let ms = (1_793_664_000 + 14 * 3600 + 22 * 60 + 5) * 1000 + 123;
        let (utc, created) = timestamps(ms);
        assert_eq!(utc, "2026-11-03 14:22:05.123");
        assert!(created.starts_with("2026-11-03T14:22:05.123") && created.ends_with('Z'));
        assert_eq!(timestamps(0).0, "1970-01-01 00:00:00.000");
        assert_eq!(timestamps(951_782_400_000).0, "2000-02-29 00:00:00.000");
    }

    #[test]
    fn base64_and_encoded_command() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // What `[Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes('whoami'))` prints.
        assert_eq!(encoded_command("whoami"), "dwBoAG8AYQBtAGkA");
    }
}
