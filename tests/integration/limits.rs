//! Rules are hostile input: every limit of `Config` refuses the rule that
//! exceeds it with an `ErrorKind::Limit` error naming the rule and the
//! limit, the defaults let realistic rules through, and nothing a rule
//! controls can overflow the stack or make loading blow up.
//!
//! None of these tests measures time; an input that made loading quadratic
//! or exponential would make the test run for hours instead of failing.

use sigmata::{Builder, Config, Error, ErrorKind, LoadReport};

/// A rule with the given detection body (indented by 4 spaces).
fn rule(detection: &str) -> String {
    format!(
        "title: hostile\nid: 0badc0de-0000-4000-8000-000000000001\nlogsource: {{category: process_creation}}\n\
         detection:\n{detection}"
    )
}

fn load(config: Config, text: &str) -> (sigmata::Engine, LoadReport) {
    Builder::new().config(config.logsource(None)).add_source("hostile.yml", text).build()
}

/// Loads `text` and returns its only error, which must be the limit `name`
/// set to `limit`, attributed to the rule file (and the rule, when the
/// error is found after the document was read).
fn refused(config: Config, text: &str, name: &str, limit: usize) -> Error {
    let (engine, report) = load(config, text);
    assert_eq!(engine.len(), 0, "the rule loaded");
    let shown: Vec<String> = report.errors.iter().map(short).collect();
    assert_eq!(report.errors.len(), 1, "{shown:?}");
    let e = report.errors[0].clone();
    assert_eq!(e.kind(), ErrorKind::Limit, "{}", short(&e));
    let got = e.limit().expect("a limit error says which limit");
    assert_eq!((got.name, got.limit), (name, limit), "{}", short(&e));
    assert_eq!(e.origin(), Some("hostile.yml"), "{}", short(&e));
    assert!(e.message().ends_with(&format!("(Config::{name})")), "{}", short(&e));
    e
}

/// The start of an error's text: hostile rules make long source lines.
fn short(e: &Error) -> String {
    e.to_string().chars().take(400).collect()
}

/// The error names the rule (title and id) as well as the file.
fn names_the_rule(e: &Error) {
    assert_eq!(e.rule_title(), Some("hostile"), "{}", short(e));
    assert_eq!(e.rule_id(), Some("0badc0de-0000-4000-8000-000000000001"), "{}", short(e));
    assert!(e.to_string().starts_with("hostile.yml:"), "{}", short(e));
}

fn loads(config: Config, text: &str) -> sigmata::Engine {
    let (engine, report) = load(config, text);
    let shown: Vec<String> = report.errors.iter().map(short).collect();
    assert!(report.errors.is_empty(), "{shown:?}");
    assert_eq!(engine.len(), 1);
    engine
}

#[test]
fn max_rule_bytes_refuses_a_large_file() {
    let text = rule(&format!("    sel: {{CommandLine: '{}'}}\n    condition: sel\n", "x".repeat(2000)));
    let e = refused(Config::new().max_rule_bytes(1000), &text, "max_rule_bytes", 1000);
    assert!(e.message().contains(&format!("{} bytes", text.len())), "{}", short(&e));
    loads(Config::new().max_rule_bytes(text.len()), &text);
}

/// The "billion laughs": each level lists the previous one 64 times, so the
/// 1.4 KB text below is 64^5 = 10^9 nodes once aliases are expanded.
/// serde_yaml bounds alias jumps only by 100 per event of the text, which
/// lets through a quadratic blow-up (a 500 KB text expanding to 10^10 nodes);
/// the loader counts the nodes it builds instead.
#[test]
fn yaml_aliases_cannot_expand_a_rule_past_max_rule_bytes() {
    let mut text = String::from("title: hostile\nlogsource: {category: process_creation}\nl0: &l0 [x, x, x, x]\n");
    for level in 1..=5 {
        text.push_str(&format!("l{level}: &l{level} ["));
        text.push_str(&vec![format!("*l{}", level - 1); 64].join(","));
        text.push_str("]\n");
    }
    text.push_str("detection:\n    sel: {CommandLine: x}\n    condition: sel\n");
    let e = refused(Config::new(), &text, "max_rule_bytes", 1 << 20);
    assert!(e.message().contains("aliases"), "{}", short(&e));
    // The quadratic form that fits serde_yaml's own jump limit.
    let mut text = String::from("title: hostile\nlogsource: {category: process_creation}\na: &a [");
    text.push_str(&vec!["x"; 20_000].join(","));
    text.push_str("]\nb: [");
    text.push_str(&vec!["*a"; 20_000].join(","));
    text.push_str("]\ndetection:\n    sel: {CommandLine: x}\n    condition: sel\n");
    refused(Config::new(), &text, "max_rule_bytes", 1 << 20);
    // An alias used the way a person would is fine.
    let ok = "title: t\nlogsource: {category: process_creation}\ndetection:\n    sel: &s {CommandLine: x}\n    \
              other: *s\n    condition: sel and other\n";
    loads(Config::new(), ok);
}

/// Deep YAML is refused, quickly: libyaml's scanner is quadratic in the
/// depth of flow collections (100,000 `[` took minutes), so the loader
/// stops at serde_yaml's own recursion limit before handing it the text.
#[test]
fn deep_yaml_nesting_is_a_yaml_error_not_a_stack_overflow() {
    // Flow collections 100,000 deep, and block sequences 200 deep (they
    // nest by indentation, one level per line).
    let block: String = (0..200).map(|i| format!("\n{}- ", " ".repeat(2 * i + 2))).collect::<String>() + "x";
    for nested in [
        format!("{}x{}", "[".repeat(1_000_000), "]".repeat(1_000_000)),
        format!("{}x{}", "{a: ".repeat(200_000), "}".repeat(200_000)),
        format!("{}x{}", "[\n".repeat(500_000), "]\n".repeat(500_000)),
        block,
    ] {
        let text = format!("title: t\nlogsource: {{category: process_creation}}\nx: {nested}\n");
        let (engine, report) = load(Config::new().max_rule_bytes(usize::MAX), &text);
        assert_eq!(engine.len(), 0);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].kind(), ErrorKind::Yaml, "{}", short(&report.errors[0]));
        let m = report.errors[0].message();
        assert!(
            m.contains("recursion limit") || m.contains("nest more than 128 levels"),
            "{}",
            short(&report.errors[0])
        );
    }
}

#[test]
fn max_values_per_item_refuses_a_long_list() {
    let values: Vec<String> = (0..11).map(|i| format!("'v{i}'")).collect();
    let text = rule(&format!("    sel:\n        CommandLine|contains: [{}]\n    condition: sel\n", values.join(", ")));
    let e = refused(Config::new().max_values_per_item(10), &text, "max_values_per_item", 10);
    names_the_rule(&e);
    assert!(e.message().contains("11 values"), "{}", short(&e));
    assert_eq!(e.line(), Some(6), "points at the item: {e}");
    loads(Config::new().max_values_per_item(11), &text);
}

#[test]
fn max_modifiers_refuses_a_long_chain() {
    let text = rule(&format!("    sel:\n        CommandLine{}: x\n    condition: sel\n", "|contains".repeat(17)));
    let e = refused(Config::new(), &text, "max_modifiers", 16);
    names_the_rule(&e);
    assert!(e.message().contains("17 modifiers"), "{}", short(&e));
    loads(Config::new().max_modifiers(17), &text);
}

#[test]
fn max_expansion_refuses_windash_times_base64offset() {
    // Six dashes: 5^6 = 15,625 alternatives.
    let text = rule("    sel:\n        CommandLine|windash|contains: ' -a -b -c -d -e -f'\n    condition: sel\n");
    let e = refused(Config::new(), &text, "max_expansion", 4096);
    names_the_rule(&e);
    // Four dashes (625) times base64offset (3): 1,875.
    let text =
        rule("    sel:\n        CommandLine|windash|base64offset|contains: ' -a -b -c -d'\n    condition: sel\n");
    loads(Config::new(), &text);
    refused(Config::new().max_expansion(1000), &text, "max_expansion", 1000);
    // Placeholders multiply too.
    let text = rule("    sel:\n        CommandLine|expand: '%a%%b%'\n    condition: sel\n");
    let mut p = sigmata::Placeholders::new();
    p.insert("a", (0..100).map(|i| format!("a{i}")).collect());
    p.insert("b", (0..100).map(|i| format!("b{i}")).collect());
    let (engine, report) =
        Builder::new().config(Config::new().logsource(None)).placeholders(p).add_source("hostile.yml", &text).build();
    assert_eq!(engine.len(), 0);
    assert_eq!(report.errors[0].limit().map(|l| l.name), Some("max_expansion"), "{}", short(&report.errors[0]));
}

#[test]
fn max_expansion_bytes_refuses_chained_encodings() {
    // Each utf16le doubles the text: 16 of them make 64 KiB into 4 GiB.
    let text = rule(&format!(
        "    sel:\n        CommandLine{}|contains: '{}'\n    condition: sel\n",
        "|utf16le".repeat(15),
        "x".repeat(65_536)
    ));
    let e = refused(Config::new(), &text, "max_expansion_bytes", 16 << 20);
    names_the_rule(&e);
    // Base64 grows it by 4/3 per step, and base64offset triples it.
    let text = rule(&format!(
        "    sel:\n        CommandLine{}|base64offset|contains: '{}'\n    condition: sel\n",
        "|base64".repeat(14),
        "x".repeat(100_000)
    ));
    refused(Config::new(), &text, "max_expansion_bytes", 16 << 20);
}

#[test]
fn max_expansion_bytes_refuses_values_times_expansions() {
    // 2,000 values of 625 alternatives each: 1.25 million predicates.
    let values: Vec<String> = (0..2000).map(|i| format!("' -a{i} -b -c -d'")).collect();
    let text =
        rule(&format!("    sel:\n        CommandLine|windash|contains: [{}]\n    condition: sel\n", values.join(", ")));
    let e = refused(Config::new(), &text, "max_expansion_bytes", 16 << 20);
    names_the_rule(&e);
}

#[test]
fn max_expansion_bytes_refuses_a_condition_that_copies_a_search() {
    // A search of 1,000 values named 10,000 times by the condition: ten
    // million predicates from a 150 KB file.
    let values: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
    let condition = vec!["sel"; 10_000].join(" and ");
    let text =
        rule(&format!("    sel:\n        CommandLine|contains: [{}]\n    condition: {condition}\n", values.join(", ")));
    let e = refused(Config::new(), &text, "max_expansion_bytes", 16 << 20);
    names_the_rule(&e);
    assert!(e.column().is_some(), "points into the condition: {e}");
    // `1 of them` copies every search, and pays for the names it matches.
    let searches: String = (0..2000).map(|i| format!("    s{i}: {{CommandLine: v{i}}}\n")).collect();
    let condition = vec!["1 of them"; 5_000].join(" and ");
    let text = rule(&format!("{searches}    condition: {condition}\n"));
    refused(Config::new(), &text, "max_expansion_bytes", 16 << 20);
    // Naming a small search many times is fine.
    let condition = vec!["sel"; 10_000].join(" and ");
    loads(Config::new(), &rule(&format!("    sel:\n        CommandLine: x\n    condition: {condition}\n")));
}

/// A condition `depth` levels deep: `b and (b or (b and (… a)))`.
fn nested_condition(depth: usize) -> String {
    let mut c = String::from("a");
    for i in 1..depth {
        c = if i % 2 == 1 { format!("b and ({c})") } else { format!("b or ({c})") };
    }
    c
}

#[test]
fn max_condition_depth_refuses_deep_conditions() {
    let text =
        rule(&format!("    a: {{CommandLine: x}}\n    b: {{Image: y}}\n    condition: {}\n", nested_condition(65)));
    let e = refused(Config::new(), &text, "max_condition_depth", 64);
    names_the_rule(&e);
    let text = rule(&format!("    a: {{CommandLine: x}}\n    condition: {}a\n", "not ".repeat(100_000)));
    refused(Config::new(), &text, "max_condition_depth", 64);
    // Parentheses alone do not nest the tree.
    let text =
        rule(&format!("    a: {{CommandLine: x}}\n    condition: {}a{}\n", "(".repeat(100_000), ")".repeat(100_000)));
    loads(Config::new(), &text);
}

/// The ceiling: whatever the configured depth, trees are at most
/// `MAX_CONDITION_DEPTH` deep, and a rule that deep loads, evaluates
/// (compiled and reference) and drops within a 512 KiB stack.
#[test]
fn the_deepest_condition_allowed_runs_in_a_small_stack() {
    let max = sigmata::condition::MAX_CONDITION_DEPTH;
    assert_eq!(Config::new().max_condition_depth(usize::MAX).get_max_condition_depth(), max);
    let deep = |depth: usize| {
        rule(&format!(
            "    a: {{CommandLine|contains: x}}\n    b: {{Image|endswith: y}}\n    condition: {}\n",
            nested_condition(depth)
        ))
    };
    refused(Config::new().max_condition_depth(usize::MAX), &deep(max + 1), "max_condition_depth", max);
    let text = deep(max);
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            let engine = loads(Config::new().max_condition_depth(usize::MAX), &text);
            let (id, lr) = engine.rules().next().expect("one rule");
            for (event, want) in [
                (serde_json::json!({"CommandLine": "axb", "Image": "y"}), true),
                (serde_json::json!({"CommandLine": "axb", "Image": "z"}), false),
            ] {
                assert_eq!(engine.matches(&event).contains(id), want);
                assert_eq!(sigmata::reference::eval(&lr.ir.expr, engine.fields(), &event), want);
            }
            drop(engine);
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}

#[test]
fn regex_size_limit_refuses_a_huge_regex() {
    let text = rule("    sel:\n        CommandLine|re: '\\w{1000}'\n    condition: sel\n");
    let e = refused(Config::new(), &text, "regex_size_limit", 10 << 20);
    names_the_rule(&e);
    assert!(e.message().contains("compiles to more than"), "{}", short(&e));
    let small = rule("    sel:\n        CommandLine|re: 'a\\w{1,64}b'\n    condition: sel\n");
    loads(Config::new(), &small);
    refused(Config::new().regex_size_limit(1 << 20), &small, "regex_size_limit", 1 << 20);
    // The limit holds the regex as compiled: one that only asks whether a
    // value matches needs no more of `\w{1,64}` at its end than one `\w`.
    let trimmed = rule("    sel:\n        CommandLine|re: '-k\\s\\w{1,64}(?:\\s?(?:-p|-s))?'\n    condition: sel\n");
    loads(Config::new().regex_size_limit(1 << 20), &trimmed);
}

#[test]
fn regex_size_limit_also_bounds_the_regexes_of_one_rule_together() {
    // Each `a\w{1,64}…` is 3.4 MiB, under the limit alone; five are not.
    let values: Vec<String> = (0..5).map(|i| format!("'a\\w{{1,64}}{i}'")).collect();
    let text = rule(&format!("    sel:\n        CommandLine|re: [{}]\n    condition: sel\n", values.join(", ")));
    let e = refused(Config::new(), &text, "regex_size_limit", 10 << 20);
    names_the_rule(&e);
    assert!(e.message().contains("together"), "{}", short(&e));
    // The same regex listed five times counts once.
    let text =
        rule(&format!("    sel:\n        CommandLine|re: [{}]\n    condition: sel\n", ["'a\\w{1,64}x'"; 5].join(", ")));
    loads(Config::new(), &text);
}

/// The lazy DFA cache is a memory bound, not a refusal: with a cache too
/// small for the DFA, regex-automata falls back to its other linear-time
/// engines and the answers stay the same.
#[test]
fn regex_cache_capacity_bounds_memory_without_changing_answers() {
    let text = rule("    sel:\n        CommandLine|re: '(?i)(a|b)*c[^x]{20}d'\n    condition: sel\n");
    let hit = serde_json::json!({"CommandLine": format!("{}c{}d", "ab".repeat(500), "y".repeat(20))});
    let miss = serde_json::json!({"CommandLine": format!("{}c{}d", "ab".repeat(500), "y".repeat(19))});
    for capacity in [0, 1 << 10, 2 << 20] {
        let engine = loads(Config::new().regex_cache_capacity(capacity), &text);
        assert_eq!(engine.matches(&hit).len(), 1, "capacity {capacity}");
        assert_eq!(engine.matches(&miss).len(), 0, "capacity {capacity}");
    }
}

/// Error suggestions and `x of` patterns are linear: a megabyte-long
/// identifier next to a megabyte-long search name used to cost 10^11 steps
/// of edit distance.
#[test]
fn long_identifiers_do_not_make_loading_quadratic() {
    let long = "s".repeat(300_000);
    // YAML allows implicit keys of at most 1,024 characters: `? key` is explicit.
    let text = rule(&format!("    ? {long}x\n    : {{CommandLine: x}}\n    condition: {long}y\n"));
    let (engine, report) = load(Config::new().max_rule_bytes(usize::MAX), &text);
    assert_eq!(engine.len(), 0);
    assert_eq!(report.errors[0].kind(), ErrorKind::Condition, "{}", short(&report.errors[0]));
    let pattern = format!("{}*b", "*a".repeat(100_000));
    let text =
        rule(&format!("    ? {}\n    : {{CommandLine: x}}\n    condition: 1 of {pattern}\n", "a".repeat(300_000)));
    let (_, report) = load(Config::new().max_rule_bytes(usize::MAX), &text);
    assert!(report.errors[0].message().contains("matches no search identifier"), "{}", short(&report.errors[0]));
}

/// Every process_creation rule of SigmaHQ loads under the default limits
/// (the full-pack check in `shared.rs` and `.ci/run` covers every logsource).
#[test]
fn defaults_let_realistic_rules_through() {
    // The SigmaHQ regex that compiled largest before regexes were trimmed
    // (`\w{1,64}`, 3.4 MiB) and a windash value with four dashes times
    // base64offset.
    let text = rule(
        "    sel:\n        CommandLine|re: '-k\\s\\w{1,64}(?:\\s?(?:-p|-s))?'\n    \
         enc:\n        CommandLine|windash|base64offset|contains: ' -a -b -c -d'\n    condition: sel or enc\n",
    );
    loads(Config::new(), &text);
}

/// A 1 MiB file of 10,000 refused documents: each error is located (line
/// and column) without splitting the whole file again, and the document
/// ranges without counting its lines again. Both made loading quadratic:
/// 17 s for this file before, 0.2 s after (release build).
#[test]
fn many_refused_documents_are_located_in_linear_time() {
    let doc =
        "title: t\nlogsource: {category: process_creation}\ndetection:\n    sel:\n        a: b\n    condition: nope\n";
    let n = (1 << 20) / (doc.len() + 4);
    let text = vec![doc; n].join("---\n");
    let (engine, report) = load(Config::new(), &text);
    assert_eq!((engine.len(), report.errors.len()), (0, n));
    for (i, e) in report.errors.iter().enumerate() {
        assert_eq!((e.line(), e.column()), (Some(6 + 7 * i), Some(16)), "{}", short(e));
    }
}

/// Filters are lowered under the same limits as rules, and refused by name.
#[test]
fn limits_apply_to_filters() {
    let values: Vec<String> = (0..11).map(|i| format!("'v{i}'")).collect();
    let text = format!(
        "title: hostile filter\nlogsource: {{category: process_creation}}\nfilter:\n    rules: any\n    \
         sel:\n        User: [{}]\n    condition: not sel\n",
        values.join(", ")
    );
    let (_, report) = load(Config::new().max_values_per_item(10), &text);
    assert_eq!(report.errors.len(), 1);
    let e = &report.errors[0];
    assert_eq!(e.limit().map(|l| l.name), Some("max_values_per_item"), "{}", short(e));
    assert_eq!(e.rule_title(), Some("hostile filter"), "{}", short(e));
}

/// Found by the `rule_yaml` fuzz target (a timeout): a field name of 49
/// dots. The JSON reader's key table holds every split of a dotted name
/// into nested keys, 2^49 of them. Such names are refused by
/// `max_field_dots`; names within it still reach every nesting.
#[test]
fn fuzz_timeout_field_name_with_49_dots() {
    let text = "title: cidr text\nlogsource: {category: process_creation}\ndetection:\n  sel:\n   \
                ................................................. DestinationIp|cidr: ['10.0.0.0/8', 'intranet']\n  \
                condition: sel\n";
    let e = refused(Config::new(), text, "max_field_dots", 8);
    assert!(e.message().contains("49 dots"), "{}", short(&e));
    // The setting is capped at 16.
    let seventeen = rule(&format!("    sel: {{{}: x}}\n    condition: sel\n", ["a"; 18].join(".")));
    refused(Config::new().max_field_dots(usize::MAX), &seventeen, "max_field_dots", 16);
    // Eight dots: every nesting of the name is found, through both readers.
    let name = ["a"; 9].join(".");
    let engine = loads(Config::new(), &rule(&format!("    sel: {{{name}: x}}\n    condition: sel\n")));
    let mut record = sigmata::Record::new();
    let mut cache = engine.create_cache();
    let mut out = sigmata::MatchSet::new();
    for event in [
        format!(r#"{{"{name}":"x"}}"#),
        r#"{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":"x"}}}}}}}}}"#.to_string(),
        r#"{"a.a.a":{"a":{"a.a.a.a":{"a":"x"}}}}"#.to_string(),
    ] {
        engine.fill_json(&mut record, &event).unwrap();
        engine.matches_record(&mut cache, &record, &mut out);
        let value: serde_json::Value = serde_json::from_str(&event).unwrap();
        assert_eq!((out.len(), engine.matches(&value).len()), (1, 1), "{event}");
    }
}
