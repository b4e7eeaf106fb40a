//! Command-line flags, as clap parses them. Turning them into built objects
//! (an engine, readers, a printer) happens in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "sigmata: Sigma rules for process-creation events, compiled into one engine.";

const AFTER_HELP: &str = "\
Examples:
  sigmata scan corpora/sample.jsonl                 scan with the built-in rule pack
  sigmata scan -r sigma/rules events.jsonl --stats  scan with SigmaHQ rules, print stats to stderr
  tail -f events.jsonl | sigmata scan -            filter a live stream
  sigmata compile -r sigma/rules -o pack.sgb        compile a pack once into a bundle
  sigmata scan --bundle pack.sgb events.jsonl       scan with it (no YAML parsing at start)
  sigmata check -r sigma/rules                      load a pack, list refused rules and why
  sigmata test -r sigma/rules                       run SigmaHQ regression tests
  sigmata test -r rules/ --format junit             run rule tests, JUnit XML for CI
  sigmata explain -r rules/x.yml event.json         why a rule did or did not match
  sigmata check -r rules/ --cost                    per rule its witnesses and cost
  sigmata debug ir rules/windows/x.yml              show a rule after each compiler stage
  sigmata serve -r sigma/rules --stream EVENTS --consumer sigmata --alerts-subject alerts
                                                    run as a service on NATS JetStream";

/// The `sigmata` command line.
#[derive(Debug, Parser)]
#[command(name = "sigmata", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate rules against events (JSONL files, evtx-dump JSON files or stdin).
    #[command(after_help = SCAN_HELP)]
    Scan(ScanArgs),
    /// Load and validate rules: what loads, what is refused and why.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Run rule tests: `<rule>.tests.yml` sidecars and SigmaHQ regression tests.
    #[command(after_help = TEST_HELP)]
    Test(TestArgs),
    /// Explain why rules did or did not match events.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// Compile rules into a bundle that `scan --bundle`, `serve --bundle` and
    /// `explain --bundle` load without parsing YAML.
    #[command(after_help = COMPILE_HELP)]
    Compile(CompileArgs),
    /// Print one rule after each compiler stage.
    Debug(DebugArgs),
    /// Run as a service: evaluate events from a NATS JetStream stream and
    /// publish alerts (at-least-once, scale-out, hot reload).
    #[command(after_help = crate::serve::HELP)]
    Serve(ServeArgs),
    /// NATS JetStream helpers: create a stream, publish JSONL, read a stream.
    #[command(subcommand)]
    Nats(NatsCommand),
}

const SCAN_HELP: &str = "\
Input: each INPUT is a file, a directory (searched recursively for .jsonl,
.ndjson, .json, .gz and .evtx files) or - for standard input (the default when
no INPUT is given). Lines are JSONL (one JSON object per line); .json files hold
concatenated JSON objects (evtx_dump -o jsonl, or -o json --no-show-record-number);
evtx_dump's default -o json output (a `Record N` line before each object) and
Windows event logs (.evtx, the ElfFile magic) are recognised by their first
bytes whatever the name; gzip'd files are read transparently. Windows records
({\"Event\": {\"System\", \"EventData\"}}) are flattened to the field names rules
use; their matches carry `record_id`, the EventRecordID. Every line is
accounted for: malformed lines are reported on stderr with source:line and the
reason, counted, and skipped.

Field mapping (--pipeline, repeatable, applied in order):
  auto           the default: per event, Security 4688 is read through
                 security-4688 and everything else as it is
  none, sysmon   read fields under the names rules use
  security-4688  Image<-NewProcessName, ParentImage<-ParentProcessName,
                 User<-SubjectDomainName\\SubjectUserName, IntegrityLevel<-MandatoryLabel
  ecs            Elastic Common Schema / Winlogbeat (process.command_line, ...)
  auditd         Linux auditd execve records, grouped by msg id
  FILE           a pySigma processing pipeline (field_name_mapping items)
Events that say they are another Sysmon or Security event than process creation
are skipped (counted as skipped_not_process_creation) when the rules are
process_creation rules.

Output (--format jsonl, the default when stdout is not a terminal): one JSON
object per (event, rule) match:
  {\"rule_id\", \"rule_title\", \"level\", \"tags\", \"rule_path\", \"source\", \"line\", \"event\"}
--format text (the default on a terminal; colour unless NO_COLOR is set),
summary (matches per level and per rule, events/s) or none.

Exit status: 0 if any event matched, 1 if none did, 2 on errors (an input that
could not be read or ended in a read error such as a truncated gzip file, no
rule loaded, a bad option), even if something matched.

--explain adds to each match why the rule matched: which selections were
true and which field, value and modifier made them true (jsonl: an
\"explanation\" object; text: indented lines below the match).

--profile times each rule's verification (the rules whose witnesses fired,
and those evaluated for every event) and prints, on stderr at the end, the
20 rules that cost the most verification time on this input.

Examples:
  sigmata scan corpora/sample.jsonl
  sigmata scan -r ../sigma/rules --format none --stats events.jsonl
  sigmata scan -r ../sigma/rules logs/ --format summary
  sigmata scan --pipeline ecs winlogbeat.jsonl.gz
  tail -f events.jsonl | sigmata scan --format text
  sigmata scan --explain --format text corpora/sample.jsonl
  sigmata scan -r ../sigma/rules --format none --profile events.jsonl
  sigmata scan --bundle windows.sgb events.jsonl   a pack from `sigmata compile`";

const CHECK_HELP: &str = "\
Prints one line per refused rule (file:line:column, rule id and title, the
reason) and a summary. Rules whose logsource is not process_creation load but
are reported as not applicable to the stream.

Lints (warnings; they change the exit status only with --deny-warnings):
rules with no selective witness literal (evaluated for every event),
duplicate rule ids, values that are no-ops (contains '' or '*'), unescaped
'?' in values that look like URLs (a wildcard, probably meant literally),
and fields outside the Sigma process_creation taxonomy.

--cost prints, per rule, its witness groups (the literals one of which must
occur for the rule to be evaluated at all), whether it is evaluated for
every event, and how many literals and regexes it tests per field.

Exit status: 0 if every rule loaded, 1 if some were refused (or, with
--deny-warnings, if any warning was printed), 2 on usage errors.

Examples:
  sigmata check -r rules/
  sigmata check -r ../sigma/rules -r ../sigma/rules-placeholder --placeholders vars.yml
  sigmata check -r rules/ --format json
  sigmata check -r rules/ --cost                 witnesses and literal counts per rule
  sigmata check -r rules/ --cost --format json
  sigmata check -r rules/ --deny-warnings        fail on lint warnings (CI)";

const TEST_HELP: &str = "\
Two kinds of tests run:

1. Sidecars: `<rule-stem>.tests.yml` next to `<rule-stem>.yml`:

     rule: 0b6c...           # optional: the id of the rule under test
                             # (default: the one rule in <rule-stem>.yml)
     placeholders:           # optional: `expand` values for this rule only
       critical_servers: ['DC01*']
     true_positives:         # each must match
       - name: encoded command          # required
         reason: optional text
         event: {Image: 'C:\\x\\powershell.exe', CommandLine: 'powershell -enc SQBFAFgA'}
       - name: from a file
         file: samples/x.jsonl          # relative to the sidecar; every event must match
     true_negatives:         # each must NOT match (near misses)
       - name: benign
         reason: why it is benign
         event: {Image: 'C:\\x\\powershell.exe', CommandLine: 'powershell -File a.ps1'}

   Each case has exactly one of `event` (a map) or `file` (.jsonl, or .json
   of concatenated objects). Unknown keys and malformed sidecars fail with
   file:line. A rule refused only because its placeholders have no values
   is tested with the sidecar's `placeholders`.

2. SigmaHQ regression tests: a rule's `regression_tests_path` names an
   info.yml (found relative to an ancestor folder of the rule, e.g. the
   SigmaHQ repository root) whose entries name sample files and a
   `match_count`: the rule must match at least that many events (at least
   one when no count is given). Samples are `.jsonl`, `.json` (concatenated
   objects), or `.evtx` event logs, read directly (through the `.json`
   rendering SigmaHQ stores beside each one when the .evtx is absent, or
   always with --samples json).

Every case is checked with the compiled engine and the reference evaluator;
a failing case prints the explanation of why the rule did or did not match
(see `sigmata explain`). Refused rules count as failures.

Output: --format text (failures, then a summary), junit (JUnit XML: one
testsuite per rule file, one testcase per case), or json.

Exit status: 0 if every test passed and no rule was refused, 1 otherwise,
2 on usage errors.

Examples:
  sigmata test -r rules/
  sigmata test -r rules/ --format junit > rule-tests.xml
  sigmata test -r ../sigma/rules -r ../sigma/rules-emerging-threats -v
  sigmata test -r ../sigma/rules --samples json";

const EXPLAIN_HELP: &str = "\
For each event and each loaded rule (or the rules chosen with --rule), prints
whether the rule matched and why: the value of every search identifier
(selection) and, for a true one, which field, value and modifier made it
true; for a rule that did not match, which selections made the condition
false and, for each failing item, the event's value and what the rule
wanted (the nearest of its values). The verdict is the reference
evaluator's, so it is exact.

EVENT is a file holding one JSON object (pretty-printed or not), JSONL (one
object per line; each is explained), or - for standard input.

Exit status: 0 if some rule matched some event, 1 if none did, 2 on errors.

Examples:
  sigmata explain -r rules/windows/process_creation/powershell_encoded_command.yml event.json
  sigmata explain -r ../sigma/rules --rule 0b6c1e8a-... events.jsonl
  echo '{\"Image\": \"C:\\\\x\\\\mshta.exe\"}' | sigmata explain -r rules/ --format json -";

const COMPILE_HELP: &str = "\
Compiles the rules as `scan` would load them (the same -r, --placeholders and
--logsource) and writes the planned engine to one file: the rules' metadata,
the field table, the shared predicates, the literal sets and the rule
programs, and the correlation rules. `scan --bundle PACK`, `serve --bundle
PACK` and `explain --bundle PACK` then start without parsing YAML, and every
host that loads the same file runs the same engine.

A bundle carries a magic, a format version, the sigmata version, the limits it
was built with and a BLAKE3 checksum. Loading refuses (exit 2, `bundle PACK:
reason`) a damaged or truncated file, another sigmata version (compile again),
or limits above the loader's. Field mapping (--pipeline) is applied to
events, so it is given to scan or serve, not here.

Refused rules are listed on stderr and left out, as scan leaves them out.

Exit status: 0 when the bundle was written, 2 on errors (no rule to
compile, a file that could not be read or written).

Examples:
  sigmata compile -o builtin.sgb
  sigmata compile -r ../sigma/rules -r ../sigma/rules-emerging-threats \\
      --logsource category=process_creation,product=windows -o windows.sgb
  sigmata scan --bundle windows.sgb events.jsonl
  openssl genpkey -algorithm ed25519 -out key.pem && openssl pkey -in key.pem -pubout -out pub.pem
  sigmata compile -o builtin.sgb --sign-key key.pem   also writes builtin.sgb.sig
  sigmata scan --bundle builtin.sgb --verify-key pub.pem events.jsonl   only if signed";

/// `sigmata compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Where to write the bundle.
    #[arg(short = 'o', long = "output", value_name = "PACK")]
    pub output: PathBuf,
    /// Also write PACK.sig, the bundle's Ed25519 signature by this private
    /// key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it),
    /// which `--verify-key` checks.
    #[arg(long, value_name = "KEY.pem")]
    pub sign_key: Option<PathBuf>,
}

/// Options shared by every command that loads rules.
#[derive(Clone, Debug, Args)]
pub struct RuleArgs {
    /// Rule file or folder (searched recursively for .yml/.yaml); repeatable.
    /// Default: the rule pack built into this binary.
    #[arg(short = 'r', long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// A rule bundle written by `sigmata compile`, instead of -r: the pack
    /// compiled once, with the placeholders and logsource it was compiled
    /// with (scan, serve and explain).
    #[arg(
        long,
        value_name = "PACK",
        conflicts_with_all = ["rules", "placeholders", "logsource", "all_logsources"]
    )]
    pub bundle: Option<PathBuf>,
    /// With --bundle: an Ed25519 public key (PEM, as `openssl pkey -pubout`
    /// writes it). The bundle is loaded only if PACK.sig holds its
    /// signature by this key (64 bytes, as `compile --sign-key` or
    /// `openssl pkeyutl -sign -rawin` write it).
    #[arg(long, value_name = "PUB.pem", requires = "bundle")]
    pub verify_key: Option<PathBuf>,
    /// YAML or JSON file with values for `expand` placeholders
    /// (`Admins: [alice, bob]`, or a pySigma pipeline's `vars:` section).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// The logsource of the events: rules whose logsource it does not cover
    /// are reported as not applicable and not evaluated. Comma-separated
    /// key=value pairs (category, product, service), e.g.
    /// `category=process_creation,product=windows`.
    #[arg(
        long,
        value_name = "KEY=VALUE,...",
        default_value = "category=process_creation",
        conflicts_with = "all_logsources"
    )]
    pub logsource: String,
    /// Evaluate rules of every logsource.
    #[arg(long)]
    pub all_logsources: bool,
}

/// `sigmata scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Output format [default: text on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    pub format: Option<ScanFormat>,
    /// Print statistics as one JSON object on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// Which evaluator decides matches: the compiled engine, or the slow
    /// reference evaluator the engine is tested against (to check a result).
    #[arg(long, value_enum, default_value_t = EngineKind::Compiled)]
    pub engine: EngineKind,
    /// Attach to each match the explanation of why the rule matched
    /// (jsonl: an "explanation" object; text: indented lines).
    #[arg(long)]
    pub explain: bool,
    /// Measure per-rule verification time and print the 20 costliest rules
    /// on stderr at the end.
    #[arg(long)]
    pub profile: bool,
    /// Field mapping: auto, none, sysmon, security-4688, ecs, auditd, or a
    /// pySigma pipeline file; repeatable, applied in order [default: auto].
    #[arg(short = 'p', long = "pipeline", value_name = "NAME|FILE")]
    pub pipelines: Vec<String>,
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Evaluate at most N lines at a time and flush the output after each
    /// batch (standard input is always flushed as soon as its lines are
    /// evaluated).
    #[arg(long, value_name = "N")]
    pub flush_every: Option<usize>,
    /// Flush the output after every line (same as --flush-every 1).
    #[arg(long)]
    pub line_buffered: bool,
    /// Echo only these fields of a matching event (as the rules see them,
    /// after field mapping), e.g. `--fields Image,CommandLine`.
    #[arg(long, value_name = "F1,F2", value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Longer lines are reported as malformed and skipped without being read
    /// into memory.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_line_bytes: usize,
    /// Colour of `--format text`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Never show a progress bar (one is shown on stderr for file inputs when
    /// stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub correlation: CorrelationArgs,
    /// Input files or directories; `-` is standard input (the default).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// A time span such as `90s`, `5m`, `1h`, `1d`, or `0s`, in milliseconds.
fn parse_span(s: &str) -> Result<i64, String> {
    if s.trim() == "0" || s.trim() == "0s" {
        return Ok(0);
    }
    sigmata::correlate::parse_timespan(s).ok_or_else(|| format!("'{s}' is not a span such as 30s, 5m, 1h or 1d"))
}

/// When `--format text` uses colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Evaluators `scan` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The compiled engine (fast).
    Compiled,
    /// The reference evaluator (the executable specification; slow).
    Reference,
}

/// Output formats of `scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// One JSON object per match.
    Jsonl,
    /// One human-readable line per match.
    Text,
    /// Matches per level and per rule, and events per second, at the end.
    Summary,
    /// No output (use with --stats).
    None,
}

/// `sigmata check`.
/// The correlation options `scan` and `serve` share.
#[derive(Args, Debug, Clone)]
pub struct CorrelationArgs {
    /// Correlation rules: the event field(s) holding the event time, tried
    /// in order (default: `UtcTime`, `@timestamp`, `TimeCreated`,
    /// `Event.System.TimeCreated.#attributes.SystemTime`, `TimeCreated.SystemTime`,
    /// `timestamp`, `msg`). RFC 3339, `YYYY-MM-DD HH:MM:SS.fff` (UTC), epoch
    /// seconds and auditd `audit(secs:serial)` are read.
    #[arg(long = "time-field", value_name = "FIELD")]
    pub time_fields: Vec<String>,
    /// Correlation rules: how much older than the newest event an event may
    /// be and still be correlated (e.g. 30s, 5m; 0s for strictly ordered
    /// input). Alerts wait this much event time, so that events arriving a
    /// little out of order still count; older ones are counted as too late.
    #[arg(long, value_name = "SPAN", default_value = "60s", value_parser = parse_span)]
    pub max_lateness: i64,
    /// Correlation rules: groups kept per correlation; the least recently
    /// updated is evicted beyond it (counted in `scan --stats`).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_groups: usize,
    /// Correlation rules: events kept per group window; the oldest is
    /// evicted beyond it (counted in `scan --stats`).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_group_events: usize,
}

impl CorrelationArgs {
    /// The correlator's limits these options set.
    pub fn correlator_config(&self) -> sigmata::correlate::CorrelatorConfig {
        sigmata::correlate::CorrelatorConfig {
            max_lateness_ms: self.max_lateness,
            max_groups: self.max_groups,
            max_entries: self.max_group_events,
            ..sigmata::correlate::CorrelatorConfig::default()
        }
    }
}

/// Event time fields tried when `--time-field` is not given.
pub const DEFAULT_TIME_FIELDS: &[&str] = &[
    "UtcTime",
    "@timestamp",
    "TimeCreated",
    "Event.System.TimeCreated.#attributes.SystemTime",
    "TimeCreated.SystemTime",
    "timestamp",
    "msg",
];

/// The fields `--time-field` names (or [`DEFAULT_TIME_FIELDS`]) as the
/// engine reads them.
pub fn time_field_refs(engine: &sigmata::Engine, names: &[String]) -> Vec<(sigmata::ir::FieldId, String)> {
    if names.is_empty() {
        DEFAULT_TIME_FIELDS.iter().map(|n| sigmata::correlate::field_ref(engine, n)).collect()
    } else {
        names.iter().map(|n| sigmata::correlate::field_ref(engine, n)).collect()
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Also print each refused rule's source line, and list every rule that
    /// is not applicable.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print per rule its witnesses, whether it is evaluated for every
    /// event, and its literal counts per field.
    #[arg(long)]
    pub cost: bool,
    /// Exit with status 1 when any warning (lint) was printed.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// `sigmata test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    /// Print passing tests too.
    #[arg(short, long)]
    pub verbose: bool,
    /// How SigmaHQ `.evtx` samples are read: the `.evtx` file itself (its
    /// `.json` rendering when it is absent), or always the `.json`.
    #[arg(long, value_enum, default_value_t = Samples::Evtx)]
    pub samples: Samples,
}

/// Which file of a SigmaHQ regression sample `test` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Samples {
    /// The `.evtx` event log (read with the `evtx` crate).
    Evtx,
    /// The `.json` rendering beside it.
    Json,
}

/// Output formats of `test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// For people: failures with explanations, then a summary.
    Text,
    /// JUnit XML, for CI systems.
    Junit,
    /// One JSON document.
    Json,
}

/// `sigmata explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Explain only the rule or correlation with this id (or title, or
    /// correlation name); repeatable.
    #[arg(long = "rule", value_name = "ID")]
    pub only: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Correlation rules: the event field(s) holding the event time, tried
    /// in order (default: as `scan`).
    #[arg(long = "time-field", value_name = "FIELD")]
    pub time_fields: Vec<String>,
    /// Correlation rules: how much older than the newest event an event may
    /// be and still be correlated (as `scan`).
    #[arg(long, value_name = "SPAN", default_value = "60s", value_parser = parse_span)]
    pub max_lateness: i64,
    /// The event file (one JSON object, or JSONL; for a correlation, the
    /// events in order); `-` is standard input.
    #[arg(value_name = "EVENT")]
    pub event: PathBuf,
}

/// `sigmata debug`.
#[derive(Debug, Args)]
pub struct DebugArgs {
    /// The stage to print.
    #[arg(value_enum)]
    pub stage: Stage,
    /// Rule files or folders (for `plan`, the whole pack is planned together).
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// The logsource to plan for (`plan` only; see `scan --logsource`).
    #[arg(long, value_name = "KEY=VALUE,...", default_value = "category=process_creation")]
    pub logsource: String,
}

/// Stages `debug` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The parsed condition(s).
    Ast,
    /// The lowered rule: modifiers compiled away, fields interned.
    Ir,
    /// The plan of the whole pack: per rule its witness groups (or that it
    /// is evaluated for every event), per field its literal matcher.
    Plan,
}

/// `sigmata serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Field mapping, as for `scan` (auditd is refused: its records of one
    /// exec arrive as several messages).
    #[arg(short = 'p', long = "pipeline", value_name = "NAME|FILE")]
    pub pipelines: Vec<String>,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The JetStream stream holding the events (one JSON event per message).
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    /// The durable pull consumer (created if absent); processes with the
    /// same consumer share the events.
    #[arg(long, value_name = "NAME")]
    pub consumer: String,
    /// Where alerts are published (a stream must capture this subject).
    #[arg(long, value_name = "SUBJECT")]
    pub alerts_subject: String,
    /// Where messages that are not events are published, with the reason
    /// (default: `<alerts-subject>.dead`).
    #[arg(long, value_name = "SUBJECT")]
    pub dead_letter_subject: Option<String>,
    /// Consume only this subject of the stream (a consumer filter; wildcards allowed).
    #[arg(long, value_name = "SUBJECT", conflicts_with = "partition")]
    pub filter_subject: Option<String>,
    /// Consume only partition K of N: subject `<partition-prefix>.K`, through
    /// the consumer `<consumer>-K` (see "Partitions" below).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// The subject prefix of partitioned events (`sigmata nats publish --partitions`).
    #[arg(long, value_name = "PREFIX", default_value = "events")]
    pub partition_prefix: String,
    /// Evaluation threads [default: all cores].
    #[arg(short = 'j', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Messages this process holds at most (fetched, not yet acknowledged).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_inflight: usize,
    /// Acknowledgement deadline set on the consumer when serve creates it:
    /// a message not acknowledged in time is redelivered.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub ack_wait: f64,
    /// Messages larger than this are dead-lettered.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics (a loopback address).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Reload the pack when a rule file under -r changes (checked every second).
    #[arg(long)]
    pub watch: bool,
    /// Accept a pack in which some rules were refused (they are logged);
    /// by default such a pack is refused at startup and on reload.
    #[arg(long)]
    pub allow_refused: bool,
    /// Exit (status 0) once the consumer has nothing left to deliver and
    /// nothing unacknowledged: a backfill, or a benchmark.
    #[arg(long)]
    pub exit_when_idle: bool,
    #[command(flatten)]
    pub correlation: CorrelationArgs,
}

/// How to reach NATS.
#[derive(Clone, Debug, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated; a user and password or a token
    /// go in the URL (`nats://user:pass@host:4222`), TLS with `tls://`.
    #[arg(long = "nats", value_name = "URL", default_value = "nats://127.0.0.1:4222")]
    pub url: String,
}

/// `serve` log formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `sigmata serve: level: message key=value ...`.
    Text,
    /// One JSON object per line.
    Json,
}

/// `sigmata nats …`.
#[derive(Debug, Subcommand)]
pub enum NatsCommand {
    /// Create a stream if no stream of that name exists.
    #[command(after_help = crate::cmd::nats::STREAM_HELP)]
    Stream(NatsStreamArgs),
    /// Publish JSONL lines, one message per line, with JetStream acknowledgements.
    #[command(after_help = crate::cmd::nats::PUBLISH_HELP)]
    Publish(NatsPublishArgs),
    /// Print the messages of a stream, one per line.
    #[command(after_help = crate::cmd::nats::READ_HELP)]
    Read(NatsReadArgs),
}

/// `sigmata nats stream`.
#[derive(Debug, Args)]
pub struct NatsStreamArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The stream's name.
    pub name: String,
    /// The subjects it captures (wildcards allowed), comma-separated.
    #[arg(long, value_name = "S1,S2", value_delimiter = ',', required = true)]
    pub subjects: Vec<String>,
    /// Keep messages in memory instead of files.
    #[arg(long)]
    pub memory: bool,
    /// The window in which a repeated Nats-Msg-Id is dropped.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub duplicate_window: u64,
}

/// `sigmata nats publish`.
#[derive(Debug, Args)]
pub struct NatsPublishArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The subject (with --partitions, the prefix of `<SUBJECT>.<n>`).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// Spread events over N subjects `<SUBJECT>.0` … `<SUBJECT>.N-1` by the
    /// hash of --partition-key, so that one host's events stay on one
    /// partition.
    #[arg(long, value_name = "N")]
    pub partitions: Option<u32>,
    /// The event field whose value chooses the partition.
    #[arg(long, value_name = "FIELD", default_value = "Computer")]
    pub partition_key: String,
    /// JSONL files; `-` is standard input (the default).
    #[arg(value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
}

/// `sigmata nats read`.
#[derive(Debug, Args)]
pub struct NatsReadArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The stream.
    pub stream: String,
    /// Only messages on this subject (wildcards allowed).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: Option<String>,
    /// Keep reading new messages (default: stop at the last message the
    /// stream held when reading started).
    #[arg(short, long)]
    pub follow: bool,
}
