//! Rule bundles: an engine read back from its bundle is the engine it was
//! written from (same matches, same explanations, same correlation alerts,
//! same bytes when written again), and a damaged, foreign or over-limit
//! bundle is refused with an error, never a panic.

use std::sync::Arc;

use serde_json::Value as Json;
use sigmata::bundle::{Bundle, FORMAT_VERSION, MAGIC, SIGMATA_VERSION};
use sigmata::{Builder, Config, Engine, ErrorKind, MatchSet, Record, RuleId};
use sigmata_tests::corr::{load_correlation_cases, run};
use sigmata_tests::{build, configs, json_texts, load_cases};

/// Writes `engine` as a bundle and reads it back, checking that writing the
/// loaded engine gives the same bytes.
pub fn round_trip(engine: &Engine) -> Engine {
    let bytes = engine.to_bundle();
    let loaded = Engine::from_bundle(&bytes).unwrap_or_else(|e| panic!("a fresh bundle loads: {e}"));
    assert!(loaded.to_bundle() == bytes, "writing the loaded engine gives other bytes");
    // The scanned predicates a bundle keeps as bytes display as compiled.
    assert_eq!(described(&loaded), described(engine));
    // Loaded in place, each rule decodes from the bundle's own bytes
    // (writing it again decodes every rule).
    let in_place = Bundle::from_vec(bytes.clone(), &Config::new()).unwrap_or_else(|e| panic!("loads in place: {e}"));
    assert!(in_place.engine().to_bundle() == bytes, "writing the engine loaded in place gives other bytes");
    loaded
}

/// What an engine shows of its plan: its statistics and every rule's
/// witnesses.
fn described(engine: &Engine) -> String {
    let witnesses: Vec<_> = engine.rules().map(|(id, _)| engine.witness_groups(id)).collect();
    format!("{:?} {witnesses:?}", engine.plan_stats())
}

/// Differences between two engines on one event: their match sets through
/// `matches_with` and through `fill_json` + `matches_record` (plain and
/// escaped JSON text), and their explanations of every rule.
pub fn differences(a: &Engine, b: &Engine, event: &Json, explain: bool) -> Vec<String> {
    let mut out = Vec::new();
    let (mut ca, mut cb) = (a.create_cache(), b.create_cache());
    let (mut ma, mut mb) = (MatchSet::new(), MatchSet::new());
    a.matches_with(&mut ca, event, &mut ma);
    b.matches_with(&mut cb, event, &mut mb);
    if ma != mb {
        out.push(format!(
            "matches_with: {:?} vs {:?} on {event}",
            ma.iter().collect::<Vec<_>>(),
            mb.iter().collect::<Vec<_>>()
        ));
    }
    for text in json_texts(event) {
        let (mut ra, mut rb) = (Record::new(), Record::new());
        let (fa, fb) = (a.fill_json(&mut ra, &text), b.fill_json(&mut rb, &text));
        if fa.is_ok() != fb.is_ok() {
            out.push(format!("fill_json {fa:?} vs {fb:?} on {text}"));
            continue;
        }
        a.matches_record(&mut ca, &ra, &mut ma);
        b.matches_record(&mut cb, &rb, &mut mb);
        if ma != mb {
            out.push(format!(
                "matches_record: {:?} vs {:?} on {text}",
                ma.iter().collect::<Vec<_>>(),
                mb.iter().collect::<Vec<_>>()
            ));
        }
    }
    if explain {
        for (id, _) in a.rules() {
            let (ea, eb) = (format!("{:?}", a.explain(id, event)), format!("{:?}", b.explain(id, event)));
            if ea != eb {
                out.push(format!("explain rule {}: {ea} vs {eb}", id.index()));
            }
        }
    }
    out
}

#[test]
fn every_conformance_case_matches_the_same_from_its_bundle() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in load_cases().iter().filter(|c| c.error.is_none()) {
        for (config_name, config) in configs() {
            let (engine, _) = build(case, config);
            let loaded = round_trip(&engine);
            assert_eq!(engine.len(), loaded.len());
            for ((_, a), (_, b)) in engine.rules().zip(loaded.rules()) {
                assert_eq!(a.ir.expr, b.ir.expr, "{}", case.name);
                assert_eq!(a.rule.title, b.rule.title, "{}", case.name);
                assert_eq!(a.filters, b.filters, "{}", case.name);
            }
            for event in case.matches.iter().chain(&case.no_matches) {
                checked += 1;
                for d in differences(&engine, &loaded, event, true) {
                    failures.push(format!("{} [{config_name}]: {d}", case.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} difference(s):\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 1_000, "only {checked} events checked");
}

#[test]
fn every_correlation_case_alerts_the_same_from_its_bundle() {
    let mut checked = 0;
    for case in load_correlation_cases().iter().filter(|c| c.error.is_none()) {
        let mut b = Builder::new();
        b.config(Config::new().logsource(None)).add_source(&format!("{}.yml", case.name), &case.rule);
        let (engine, set, report) = b.build_correlated();
        assert!(report.errors.is_empty(), "{}: {:?}", case.name, report.errors);
        let bytes = Bundle::new(engine.clone()).correlations(set.clone()).label("case").to_bytes();
        let back = Bundle::from_bytes(&bytes, &Config::new()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(back.get_label(), "case");
        let (loaded, loaded_set, _) = back.into_parts();
        assert_eq!(set.len(), loaded_set.len(), "{}", case.name);
        for (id, _) in engine.rules() {
            assert_eq!(set.generates(id), loaded_set.generates(id), "{}", case.name);
        }
        let alerts = |engine: &Engine, set| {
            let mut cache = engine.create_cache();
            let (alerts, stats) = run(engine, &Arc::new(set), case.config, &case.events, |ev| {
                let mut m = MatchSet::new();
                engine.matches_with(&mut cache, ev, &mut m);
                m.iter().collect()
            });
            format!("{alerts:?} {stats:?}")
        };
        assert_eq!(alerts(&engine, set), alerts(&loaded, loaded_set), "{}", case.name);
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} correlation cases");
}

/// A bundle of a small pack: two rules, a regex, a keyword, a field reference.
fn small_bundle() -> (Engine, Vec<u8>) {
    let pack = r#"
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
  condition: kw or ref
"#;
    let (engine, report) = Builder::new().add_source("small.yml", pack).build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(engine.len(), 2);
    let bytes = engine.to_bundle();
    (engine, bytes)
}

fn events() -> Vec<Json> {
    vec![
        serde_json::json!({"Image": "C:\\x\\mshta.exe", "CommandLine": "mshta https://e/a.hta"}),
        serde_json::json!({"Image": "C:\\x\\cmd.exe", "CommandLine": "x a123b"}),
        serde_json::json!({"Image": "C:\\x\\cmd.exe", "ParentImage": "C:\\x\\cmd.exe", "CommandLine": "evil"}),
    ]
}

fn refused(bytes: &[u8]) -> sigmata::Error {
    match Bundle::from_bytes(bytes, &Config::new()) {
        Ok(_) => panic!("a bundle of {} bytes was not refused", bytes.len()),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Bundle, "{e}");
            e
        }
    }
}

/// Sets the checksum of a bundle to that of its (changed) bytes.
fn rechecksum(bytes: &mut [u8]) {
    let n = bytes.len() - 32;
    let sum = blake3::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(sum.as_bytes());
}

#[test]
fn a_bundle_loads_and_evaluates_like_its_engine() {
    let (engine, bytes) = small_bundle();
    assert_eq!(&bytes[..8], &MAGIC);
    let loaded = round_trip(&engine);
    let mut matched = 0;
    for ev in events() {
        assert!(differences(&engine, &loaded, &ev, true).is_empty());
        let mut m = MatchSet::new();
        loaded.matches_with(&mut loaded.create_cache(), &ev, &mut m);
        matched += m.len();
    }
    assert_eq!(matched, 3);
}

#[test]
fn a_truncated_bundle_is_refused_at_every_length() {
    let (_, bytes) = small_bundle();
    for n in 0..bytes.len() {
        refused(&bytes[..n]);
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(refused(&longer).message().contains("after the checksum"));
}

#[test]
fn every_flipped_byte_is_refused() {
    let (_, bytes) = small_bundle();
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            refused(&b);
        }
    }
}

/// A hand-made payload with a valid checksum (every byte of a valid one
/// changed, the checksum set again) is refused or loads an engine that
/// evaluates without panicking: the loader validates, it does not trust.
#[test]
fn a_rechecksummed_changed_payload_never_panics() {
    let (_, bytes) = small_bundle();
    let (mut loads, mut refusals) = (0, 0);
    let header = 8 + 4 + 1 + SIGMATA_VERSION.len();
    for i in header..bytes.len() - 32 {
        for change in [0x01u8, 0x02, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= change;
            rechecksum(&mut b);
            match Bundle::from_bytes(&b, &Config::new()) {
                Ok(bundle) => {
                    loads += 1;
                    let engine = bundle.engine();
                    let mut cache = engine.create_cache();
                    let mut m = MatchSet::new();
                    for ev in events() {
                        engine.matches_with(&mut cache, &ev, &mut m);
                        for (id, _) in engine.rules() {
                            let _ = engine.explain(id, &ev);
                            let _ = engine.witness_groups(id);
                        }
                    }
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Bundle);
                    refusals += 1;
                }
            }
        }
    }
    // Both outcomes occur: a changed title still loads, a changed index does not.
    assert!(loads > 0 && refusals > 0, "{loads} loads, {refusals} refusals");
}

/// The literal automata are the payload's last bytes. Changed there (the
/// checksum set again), a bundle is refused with the field named, or loads
/// an engine that matches as the original: a failure link or an output
/// changed is caught by the check of the automaton against its literals,
/// which daachorse's own check (memory safety only) would let through.
#[test]
fn a_changed_automaton_is_refused_with_its_field_or_harmless() {
    let (engine, bytes) = small_bundle();
    let expected: Vec<Vec<RuleId>> = events().iter().map(|ev| engine.matches(ev).iter().collect()).collect();
    let end = bytes.len() - 32;
    let mut named = 0;
    for i in end - 600..end {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        rechecksum(&mut b);
        match Bundle::from_bytes(&b, &Config::new()) {
            Ok(bundle) => {
                let got: Vec<Vec<RuleId>> =
                    events().iter().map(|ev| bundle.engine().matches(ev).iter().collect()).collect();
                assert_eq!(got, expected, "byte {i} changed, loaded, and matches differently");
            }
            // Refused by sigmata's check, not by daachorse's.
            Err(e) => {
                let m = e.message();
                named += usize::from(m.contains("the literal automaton of field") && !m.contains("daachorse"));
            }
        }
    }
    assert!(named > 0, "no change of the automata was refused by their check");
}

/// A scanned predicate is kept as bytes and decoded only to be displayed.
/// Changed in the bundle (the checksum set again) so that its literal no
/// longer decides it, it displays as not decoding, never as the test it
/// now reads as: what a witness shows is what is evaluated.
#[test]
fn a_changed_scanned_predicate_never_displays_as_another_test() {
    let rule = "title: t\nlogsource: {category: process_creation}\n\
                detection: {sel: {CommandLine|contains: ['http://', 'ftp://']}, condition: sel}\n";
    let (engine, _) = Builder::new().add_source("t.yml", rule).build();
    let bytes = engine.to_bundle();
    let rule_a = engine.rules().next().map(|(id, _)| id).expect("the rule");
    let original = engine.witness_groups(rule_a);
    assert!(original.concat().iter().any(|w| w.contains("http://")), "{original:?}");
    let events = [
        serde_json::json!({"CommandLine": "curl http://e/a"}),
        serde_json::json!({"CommandLine": "curl ftp://e/a"}),
        serde_json::json!({"CommandLine": "curl https://e/a"}),
    ];
    let expected: Vec<Vec<RuleId>> = events.iter().map(|ev| engine.matches(ev).iter().collect()).collect();
    assert_eq!(expected.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 0]);
    let (mut loads, mut undecoded) = (0, 0);
    for at in bytes.windows(7).enumerate().filter(|(_, w)| *w == b"http://").map(|(i, _)| i) {
        let mut b = bytes.clone();
        b[at + 1] = b'x';
        rechecksum(&mut b);
        let Ok(bundle) = Bundle::from_bytes(&b, &Config::new()) else { continue };
        loads += 1;
        let got: Vec<Vec<RuleId>> = events.iter().map(|ev| bundle.engine().matches(ev).iter().collect()).collect();
        assert_eq!(got, expected, "'http://' at byte {at} changed, loaded, and matches differently");
        let shown = bundle.engine().witness_groups(rule_a);
        assert!(!shown.concat().iter().any(|w| w.contains("hxtp://")), "byte {at}: {shown:?}");
        undecoded += usize::from(shown.concat().iter().any(|w| w.contains("does not decode")));
    }
    // The rule's document and IR load changed (they do not decide
    // matching); the scanned predicate's change shows.
    assert!(loads >= 2 && undecoded == 1, "{loads} loads, {undecoded} undecoded");
}

#[test]
fn another_format_or_version_is_refused_with_the_reason() {
    let (_, bytes) = small_bundle();
    let mut b = bytes.clone();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = refused(&b);
    assert!(e.message().contains(&format!("format version {}", FORMAT_VERSION + 1)), "{e}");
    let mut b = bytes.clone();
    let v = 13..13 + SIGMATA_VERSION.len();
    assert_eq!(&b[v.clone()], SIGMATA_VERSION.as_bytes());
    b[v.end - 1] = b'9';
    let e = refused(&b);
    assert!(e.message().contains("built by sigmata") && e.message().contains("compile the rules again"), "{e}");
    let e = refused(b"title: not a bundle\n");
    assert!(e.message().contains("magic"), "{e}");
}

#[test]
fn limits_above_the_loaders_are_refused() {
    let rule = "title: t\nlogsource: {category: process_creation}\ndetection: {sel: {Image|endswith: '\\x.exe'}, condition: sel}\n";
    let config = Config::new().max_condition_depth(128);
    let (engine, _) = Builder::new().config(config.clone()).add_source("t.yml", rule).build();
    let bytes = engine.to_bundle();
    let e = refused(&bytes);
    assert!(e.message().contains("max_condition_depth = 128"), "{e}");
    let loaded = Bundle::from_bytes(&bytes, &config).expect("equal limits load");
    assert_eq!(loaded.engine().config().get_max_condition_depth(), 128);
    // A loader with higher limits runs the engine with the bundle's.
    let (small, _) = Builder::new().add_source("t.yml", rule).build();
    let loaded = Bundle::from_bytes(&small.to_bundle(), &config).expect("lower limits load");
    assert_eq!(loaded.engine().config().get_max_condition_depth(), 64);
}

#[test]
fn the_same_pack_gives_the_same_bytes() {
    let case = load_cases()
        .into_iter()
        .find(|c| !c.placeholders.is_empty() && c.error.is_none())
        .expect("a case with placeholders");
    let (a, _) = build(&case, Config::new().logsource(None));
    let (b, _) = build(&case, Config::new().logsource(None));
    assert!(a.to_bundle() == b.to_bundle(), "{}", case.name);
}

/// The project's pack built on one thread and on two (which build the
/// largest automaton apart, beside the others) gives the same bundle.
#[test]
fn one_thread_or_two_build_the_same_bundle() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let files = sigmata_cli::rules::rule_files(&rules).expect("the project's rules/");
    let bundle = |threads: usize| {
        let mut b = Builder::new();
        b.threads(threads);
        for f in &files {
            b.add_source(&f.display().to_string(), &std::fs::read_to_string(f).expect("a readable rule"));
        }
        let (engine, _) = b.build();
        assert!(engine.len() > 40, "{} rules", engine.len());
        assert!(engine.plan_stats().fields.len() > 3, "several automata");
        engine.to_bundle()
    };
    assert!(bundle(1) == bundle(2));
}

/// Each keyword predicate of a loaded bundle is prefiltered with its own
/// needles: the line prefilter is indexed by predicate id, which in a
/// bundle differs from the index among the decoded predicates (the
/// scanned ones before them are kept as bytes).
#[test]
fn each_keyword_is_prefiltered_by_its_own_needles_from_a_bundle() {
    let pack = r#"
title: scanned first
logsource: {category: process_creation}
detection:
  sel: {Image|endswith: '\mshta.exe'}
  condition: sel
---
title: a lazy one
logsource: {category: process_creation}
detection:
  re: {CommandLine|re: 'a[0-9]+b'}
  condition: re
---
title: alpha
logsource: {category: process_creation}
detection:
  kw: [alphakeyword]
  condition: kw
---
title: beta
logsource: {category: process_creation}
detection:
  kw: [betakeyword]
  condition: kw
"#;
    let (engine, report) = Builder::new().add_source("keywords.yml", pack).build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let loaded = round_trip(&engine);
    let mut matched = 0;
    for ev in [
        serde_json::json!({"Image": "C:\\x\\mshta.exe", "CommandLine": "mshta a12b"}),
        serde_json::json!({"Image": "C:\\x\\cmd.exe", "CommandLine": "x AlphaKeyword y"}),
        serde_json::json!({"Image": "C:\\x\\cmd.exe", "CommandLine": "x betakeyword y"}),
        serde_json::json!({"Image": "C:\\x\\cmd.exe", "CommandLine": "alphakeyword betakeyword"}),
    ] {
        let d = differences(&engine, &loaded, &ev, false);
        assert!(d.is_empty(), "{d:?}");
        for text in json_texts(&ev) {
            let mut r = Record::new();
            loaded.fill_json(&mut r, &text).unwrap();
            let mut m = MatchSet::new();
            loaded.matches_record(&mut loaded.create_cache(), &r, &mut m);
            matched += m.len();
        }
    }
    // Six matches, each in the plain and the escaped text.
    assert_eq!(matched, 6 * 2);
}
