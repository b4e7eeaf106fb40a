//! Rule bundles as hostile input. The first byte chooses what the rest is:
//!
//! - even: the bytes of a bundle, read as they are (`Bundle::from_bytes`);
//! - odd: edits to a valid bundle of a small pack (the rest read as
//!   `(position u16 LE, xor byte)` triples), then, when bit 1 of the first
//!   byte is set, the checksum made valid again, so that the edits reach
//!   the decoder and the validation instead of stopping at the checksum.
//!
//! Nothing may panic, loop or allocate without bound; a bundle that loads
//! must evaluate and explain the fixed events without panicking. Seeds:
//! `fuzz/seed.sh` (edits of the target's own bundle, and the built-in
//! pack's bundle when a release binary is at hand). Checked before it was
//! committed: 97,445 runs in 60 s of a build without AddressSanitizer
//! (cargo-fuzz is not installed here; `fuzz/run.sh 60 bundle` builds it
//! with the same coverage flags), no crash.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigmata::bundle::Bundle;
use sigmata::{Builder, Config, MatchSet};
use sigmata_fuzz::Text;

const PACK: &str = r#"
title: a
logsource: {category: process_creation}
detection:
  sel: {Image|endswith: '\mshta.exe', CommandLine|contains: ['http://', 'https://']}
  re: {CommandLine|re: 'a[0-9]+b'}
  condition: sel or re
---
title: b
logsource: {category: process_creation}
detection:
  kw: [evil]
  ref: {ParentImage|fieldref: Image}
  num: {ProcessId|gt: 4}
  condition: kw or ref and not num
"#;

fn valid() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| Builder::new().add_source("pack.yml", PACK).build().0.to_bundle())
}

fuzz_target!(|input: Text| {
    let data = &input.0;
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut b = valid().to_vec();
        for edit in rest.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % b.len();
            b[at] ^= edit[2];
        }
        if mode & 2 != 0 {
            let n = b.len() - 32;
            let sum = blake3::hash(&b[..n]);
            b[n..].copy_from_slice(sum.as_bytes());
        }
        b
    };
    if let Ok(bundle) = Bundle::from_bytes(&bytes, &Config::new()) {
        let engine = bundle.engine();
        let mut cache = engine.create_cache();
        let mut matches = MatchSet::new();
        for text in sigmata_fuzz::fixed_events() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            engine.matches_with(&mut cache, &event, &mut matches);
            for (id, _) in engine.rules() {
                let _ = engine.explain(id, &event);
            }
        }
    }
});
