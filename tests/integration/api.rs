//! The public API: traits, lenient loading, located errors.

use sigmata::{Builder, Config, ErrorKind};

#[test]
fn engine_and_friends_have_the_auto_traits_embedders_need() {
    fn assert_traits<T: Send + Sync + Clone + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    assert_traits::<sigmata::Engine>();
    assert_traits::<sigmata::Error>();
    fn assert_send<T: Send>() {}
    assert_send::<sigmata::Cache>();
}

const GOOD: &str = "title: good\nid: 11111111-1111-4111-8111-111111111111\nlogsource: {category: process_creation}\ndetection:\n    sel: {Image|endswith: '\\a.exe'}\n    condition: sel\n";

#[test]
fn one_bad_rule_never_sinks_the_others() {
    let bad = "title: bad\nid: 22222222-2222-4222-8222-222222222222\nlogsource: {category: process_creation}\ndetection:\n    sel: {Image|endswith: x}\n    condition: sel and not filter\n";
    let broken_yaml = "title: [unclosed\n";
    let other = "title: reg\nlogsource: {category: registry_set, product: windows}\ndetection:\n    sel: {TargetObject|contains: Run}\n    condition: sel\n";
    let (engine, report) = Builder::new()
        .add_source("good.yml", GOOD)
        .add_source("bad.yml", bad)
        .add_source("broken.yml", broken_yaml)
        .add_source("reg.yml", other)
        .build();
    assert_eq!(engine.len(), 1);
    assert_eq!(report.rules_loaded, 1);
    assert_eq!(report.errors.len(), 2);
    assert_eq!(report.not_applicable.len(), 1);
    let cond = report.errors.iter().find(|e| e.kind() == ErrorKind::Condition).expect("condition error");
    assert_eq!(cond.origin(), Some("bad.yml"));
    assert_eq!(cond.rule_id(), Some("22222222-2222-4222-8222-222222222222"));
    assert_eq!((cond.line(), cond.column()), (Some(6), Some(28)));
    assert!(cond.message().contains("undefined identifier 'filter'"), "{}", cond.message());
    let yaml = report.errors.iter().find(|e| e.kind() == ErrorKind::Yaml).expect("yaml error");
    assert_eq!(yaml.origin(), Some("broken.yml"));
    assert!(yaml.line().is_some());
}

#[test]
fn errors_display_the_source_line_with_a_caret() {
    let text = "title: t\nlogsource: {category: process_creation}\ndetection:\n    sel:\n        CommandLine|re: '(unclosed'\n    condition: sel\n";
    let (_, report) = Builder::new().add_source("re.yml", text).build();
    let shown = report.errors[0].to_string();
    assert!(shown.starts_with("re.yml:5:26: rule 't': invalid regular expression"), "{shown}");
    assert!(shown.contains("5 |         CommandLine|re: '(unclosed'"), "{shown}");
    assert!(shown.contains("  |                          ^^^^^^^^^"), "{shown}");
}

#[test]
fn logsource_config_decides_what_is_evaluated() {
    let other = "title: reg\nlogsource: {category: registry_set, product: windows}\ndetection:\n    sel: {TargetObject|contains: Run}\n    condition: sel\n";
    let (engine, report) = Builder::new().config(Config::new().logsource(None)).add_source("reg.yml", other).build();
    assert_eq!((engine.len(), report.not_applicable.len()), (1, 0));
}

#[test]
fn a_warm_cache_gives_the_same_answers() {
    let (engine, _) = Builder::new().add_source("good.yml", GOOD).build();
    let mut cache = engine.create_cache();
    let mut set = sigmata::MatchSet::new();
    let hit = serde_json::json!({"Image": "C:\\A.EXE"});
    let miss = serde_json::json!({"Image": "C:\\b.exe"});
    for _ in 0..3 {
        engine.matches_with(&mut cache, &hit, &mut set);
        assert_eq!(set.len(), 1);
        engine.matches_with(&mut cache, &miss, &mut set);
        assert_eq!(set.len(), 0);
    }
}

#[test]
fn parsing_on_several_threads_changes_nothing() {
    // Good, broken and not-applicable files interleaved, more files than
    // threads, so every chunk boundary falls somewhere different.
    let mut sources = Vec::new();
    for i in 0..23 {
        let text = match i % 4 {
            0 => GOOD.replace("\\a.exe", &format!("\\a{i}.exe")).replace("11111111-1111", &format!("{i:08}-1111")),
            1 => format!("title: broken {i}\ndetection: [\n"),
            2 => "title: reg\nlogsource: {category: registry_set}\ndetection:\n    sel: {TargetObject: x}\n    condition: sel\n".into(),
            _ => format!("title: bad {i}\nlogsource: {{category: process_creation}}\ndetection:\n    sel: {{a: b}}\n    condition: nope\n"),
        };
        sources.push((format!("rule{i}.yml"), text));
    }
    let build = |threads: usize| {
        let mut b = Builder::new();
        b.threads(threads);
        for (origin, text) in &sources {
            b.add_source(origin, text);
        }
        let (engine, report) = b.build();
        let errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        let rules: Vec<String> =
            engine.rules().map(|(_, r)| format!("{}:{}", r.rule.origin.path, r.rule.title)).collect();
        (rules, errors, report.not_applicable.len())
    };
    let one = build(1);
    assert_eq!(one.0.len(), 6, "{:?}", one.0);
    assert_eq!(one.1.len(), 11, "{:?}", one.1);
    assert_eq!(one.2, 6);
    for threads in [2, 3, 8, 64] {
        assert_eq!(build(threads), one, "{threads} threads");
    }
}

#[test]
fn rules_of_other_logsources_are_lowered_only_when_checking_all() {
    // A registry rule with a broken condition, against a process_creation stream.
    let broken_other = "title: reg\nlogsource: {category: registry_set, product: windows}\ndetection:\n    sel: {TargetObject|contains: Run}\n    condition: sel and nope\n";
    let build = |check_all: bool| {
        let mut b = Builder::new();
        b.config(Config::new()).check_all(check_all).add_source("good.yml", GOOD).add_source("reg.yml", broken_other);
        b.build()
    };
    // Evaluating a stream: the rule does not apply, so it is not lowered.
    let (engine, report) = build(false);
    assert_eq!((engine.len(), report.errors.len(), report.not_applicable.len()), (1, 0, 1));
    assert_eq!(report.not_applicable[0].title, "reg");
    // Checking a pack: its error is reported.
    let (engine, report) = build(true);
    assert_eq!((engine.len(), report.errors.len(), report.not_applicable.len()), (1, 1, 0));
    assert!(report.errors[0].message().contains("undefined identifier 'nope'"), "{}", report.errors[0]);
}

/// A Sigma 1.x collection (`tests/data/sigma1_collection.yml`) loads as
/// pySigma reads it: one rule per document that is not a `global` or a
/// `reset`, each reported at its own document's line, with a warning that
/// the file uses the 1.x form.
#[test]
fn a_sigma_1_collection_file_loads_rule_by_rule() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sigma1_collection.yml");
    let text = std::fs::read_to_string(&path).expect("tests/data/sigma1_collection.yml is readable");
    let (engine, report) = Builder::new().add_source("sigma1_collection.yml", &text).build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.rules_loaded, 3);
    // The 1.x form is named, at the first `action` line.
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let w = &report.warnings[0];
    assert_eq!((w.origin(), w.line()), (Some("sigma1_collection.yml"), Some(5)));
    assert!(w.message().contains("Sigma 1.x rule collection"), "{}", w.message());
    // Each rule: its document's line, and what it took from the template.
    let rules: Vec<_> = engine.rules().map(|(id, lr)| (id, &lr.rule)).collect();
    let seen: Vec<(&str, Option<&str>, usize, Option<&str>)> = rules
        .iter()
        .map(|(_, r)| (r.title.as_str(), r.id.as_deref(), r.origin.first_line, r.level.map(|l| l.as_str())))
        .collect();
    assert_eq!(
        seen,
        [
            ("Local Account Discovery", Some("5a0d9b8e-1c4e-4b5e-9a51-000000000001"), 18, Some("medium")),
            ("Local Account Discovery", Some("5a0d9b8e-1c4e-4b5e-9a51-000000000002"), 24, Some("medium")),
            ("Net Use With A UNC Path", Some("5a0d9b8e-1c4e-4b5e-9a51-000000000003"), 33, Some("low")),
        ]
    );
    assert_eq!(rules[1].1.author.as_deref(), Some("sigmata tests"));
    assert_eq!(rules[2].1.author, None, "the reset drops the template");
    assert!(rules.iter().all(|(_, r)| r.custom.iter().all(|(k, _)| k != "action")));
    // What each rule matches: the repeat changed the selection, kept the filter.
    let matching = |event: serde_json::Value| -> Vec<usize> {
        let set = engine.matches(&event);
        rules.iter().enumerate().filter(|(_, (id, _))| set.contains(*id)).map(|(i, _)| i).collect()
    };
    assert_eq!(matching(serde_json::json!({"Image": "C:\\Windows\\System32\\whoami.exe"})), [0]);
    assert_eq!(matching(serde_json::json!({"Image": "C:\\Windows\\System32\\quser.exe"})), [1]);
    let from_msiexec = serde_json::json!({"Image": "C:\\x\\quser.exe", "ParentImage": "C:\\x\\msiexec.exe"});
    assert!(matching(from_msiexec).is_empty());
    assert_eq!(matching(serde_json::json!({"CommandLine": "net use \\\\host\\c$"})), [2]);
}
