//! [`Config`]: limits and choices that shape a build, passed by value.

use crate::front::rule::LogSource;

/// Build-time settings: size and nesting limits (rules are hostile input)
/// and which logsource the events will come from.
///
/// A rule that exceeds a limit is refused with an [`ErrorKind::Limit`](crate::ErrorKind::Limit)
/// error naming the rule and the limit ([`Error::limit`](crate::Error::limit)); loading never
/// panics or aborts, and what a rule may cost is bounded:
///
/// | limit | default | bounds | SigmaHQ's largest |
/// |---|---:|---|---:|
/// | [`max_rule_bytes`](Config::max_rule_bytes) | 1 MiB | a rule file, and its YAML after aliases are expanded | 288 KiB |
/// | [`max_field_dots`](Config::max_field_dots) | 8 | dots in one field name (the JSON reader looks up all 2^dots splits) | 3 |
/// | [`max_values_per_item`](Config::max_values_per_item) | 10,000 | values of one detection item | 1,093 |
/// | [`max_modifiers`](Config::max_modifiers) | 16 | modifiers chained on one field | 3 |
/// | [`max_expansion`](Config::max_expansion) | 4,096 | alternatives of one value (`windash` × `base64offset` × placeholders) | 25 |
/// | [`max_expansion_bytes`](Config::max_expansion_bytes) | 16 MiB | predicates of one rule after modifiers, expansions and condition references | 1.0 MB |
/// | [`max_condition_depth`](Config::max_condition_depth) | 64 (at most 256) | nesting of a condition | 4 |
/// | [`regex_size_limit`](Config::regex_size_limit) | 10 MiB | one compiled regex, and all of one rule's together (as compiled, see the method) | 1.0 MB (`.{1000,}`) |
/// | [`regex_cache_capacity`](Config::regex_cache_capacity) | 2 MiB | the lazy DFA cache of one regex (memory, not a refusal) | — |
///
/// ```
/// let config = sigmata::Config::new().max_condition_depth(16).logsource(None);
/// assert_eq!(config.get_max_condition_depth(), 16);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) max_rule_bytes: usize,
    pub(crate) max_field_dots: usize,
    pub(crate) max_values_per_item: usize,
    pub(crate) max_modifiers: usize,
    pub(crate) max_expansion: usize,
    pub(crate) max_expansion_bytes: usize,
    pub(crate) max_condition_depth: usize,
    pub(crate) regex_size_limit: usize,
    pub(crate) regex_cache_capacity: usize,
    pub(crate) logsource: Option<LogSource>,
    pub(crate) automaton: AutomatonKind,
    pub(crate) value_cache_entries: usize,
    pub(crate) value_cache_bytes: usize,
    /// `None`: the built-in model, parsed on first use (loading a bundle
    /// plans nothing, so it never needs it); `Some(model)`: that one.
    pub(crate) frequency_model: Option<Option<std::sync::Arc<crate::plan::freq::FrequencyModel>>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_rule_bytes: 1 << 20,
            max_field_dots: 8,
            max_values_per_item: 10_000,
            max_modifiers: 16,
            max_expansion: 4_096,
            max_expansion_bytes: 16 << 20,
            max_condition_depth: 64,
            regex_size_limit: 10 << 20,
            regex_cache_capacity: 2 << 20,
            logsource: Some(LogSource { category: Some("process_creation".into()), ..LogSource::default() }),
            automaton: AutomatonKind::Auto,
            value_cache_entries: 4_096,
            value_cache_bytes: 1 << 20,
            frequency_model: None,
        }
    }
}

impl Config {
    /// The default configuration.
    pub fn new() -> Config {
        Config::default()
    }

    /// Largest rule file, in bytes (default 1 MiB).
    pub fn max_rule_bytes(mut self, n: usize) -> Config {
        self.max_rule_bytes = n;
        self
    }

    /// Most dots one field name may have (default 8; SigmaHQ's names have
    /// at most 3). A dotted name also reaches nested objects, split into
    /// keys in every possible way (`a.b.c` is `a`→`b.c`, `a.b`→`c`,
    /// `a`→`b`→`c` or the key `a.b.c`), and the JSON reader prepares a table
    /// of all 2^dots splits. Values above 16 are lowered to 16 (65,536 splits per name).
    pub fn max_field_dots(mut self, n: usize) -> Config {
        self.max_field_dots = n.min(16);
        self
    }

    /// Most values one detection item may list (default 10,000).
    pub fn max_values_per_item(mut self, n: usize) -> Config {
        self.max_values_per_item = n;
        self
    }

    /// Most modifiers one detection item may chain (default 16). Each
    /// modifier rewrites every alternative of every value, so the chain's
    /// length multiplies lowering's work.
    pub fn max_modifiers(mut self, n: usize) -> Config {
        self.max_modifiers = n;
        self
    }

    /// Most alternatives one value may expand to through `windash`,
    /// `base64offset` and placeholders together (default 4,096).
    pub fn max_expansion(mut self, n: usize) -> Config {
        self.max_expansion = n;
        self
    }

    /// Most bytes the predicates of one rule may take once lowered
    /// (default 16 MiB): every value after its modifiers and expansions,
    /// counted as 64 bytes plus its text, and again each time the condition
    /// names its search (`sel and sel and …` copies it). It bounds what
    /// `max_expansion` does not: a chain of `utf16`/`base64` modifiers
    /// doubles the text at each step, and 10,000 values of 4,096
    /// alternatives each are 40 million predicates.
    pub fn max_expansion_bytes(mut self, n: usize) -> Config {
        self.max_expansion_bytes = n;
        self
    }

    /// Deepest condition nesting (default 64). Values above
    /// [`MAX_CONDITION_DEPTH`](crate::front::condition::MAX_CONDITION_DEPTH) (256)
    /// are lowered to it: the compiler and the reference evaluator walk
    /// expression trees recursively, and that ceiling keeps their stack use
    /// bounded by a constant.
    pub fn max_condition_depth(mut self, n: usize) -> Config {
        self.max_condition_depth = n.min(crate::front::condition::MAX_CONDITION_DEPTH);
        self
    }

    /// Largest compiled regex (NFA) in bytes, and largest total of the
    /// compiled regexes of one rule (default 10 MiB). A regex is compiled,
    /// and counted, without the parts that cannot change whether it matches
    /// a value: `-k\s\w{1,64}(\s-p)?` is compiled as `-k\s\w`.
    pub fn regex_size_limit(mut self, n: usize) -> Config {
        self.regex_size_limit = n;
        self
    }

    /// Capacity of each regex's lazy-DFA cache in bytes (default 2 MiB).
    pub fn regex_cache_capacity(mut self, n: usize) -> Config {
        self.regex_cache_capacity = n;
        self
    }

    /// The logsource of the events to be evaluated. Rules whose logsource it
    /// does not cover are loaded and reported as not applicable, but not
    /// evaluated. `None` evaluates every rule. Default: `category: process_creation`.
    pub fn logsource(mut self, l: Option<LogSource>) -> Config {
        self.logsource = l;
        self
    }

    /// Which literal automaton to build for each field (default: the
    /// strategy ladder of the `matcher` module). Never changes what matches.
    pub fn automaton(mut self, kind: AutomatonKind) -> Config {
        self.automaton = kind;
        self
    }

    /// Per-thread cache of scan results by field value: at most `entries`
    /// values and `bytes` of value text per field (default 4,096 and 1 MiB).
    /// `entries == 0` turns it off. Never changes what matches.
    pub fn value_cache(mut self, entries: usize, bytes: usize) -> Config {
        self.value_cache_entries = entries;
        self.value_cache_bytes = bytes;
        self
    }

    /// How often literals occur in field values, which steers the choice of
    /// witnesses (default: the built-in model; `None`: length heuristics).
    /// Never changes what matches.
    pub fn frequency_model(mut self, model: Option<std::sync::Arc<crate::plan::freq::FrequencyModel>>) -> Config {
        self.frequency_model = Some(model);
        self
    }

    /// The frequency model planning uses.
    pub(crate) fn frequencies(&self) -> Option<std::sync::Arc<crate::plan::freq::FrequencyModel>> {
        match &self.frequency_model {
            None => Some(crate::plan::freq::FrequencyModel::builtin()),
            Some(model) => model.clone(),
        }
    }

    /// See [`Config::max_condition_depth`].
    pub fn get_max_condition_depth(&self) -> usize {
        self.max_condition_depth
    }

    /// See [`Config::logsource`].
    pub fn get_logsource(&self) -> Option<&LogSource> {
        self.logsource.as_ref()
    }

    pub(crate) fn lower_limits(&self) -> crate::ir::Limits {
        crate::ir::Limits {
            max_field_dots: self.max_field_dots,
            max_values_per_item: self.max_values_per_item,
            max_modifiers: self.max_modifiers,
            max_expansion: self.max_expansion,
            max_expansion_bytes: self.max_expansion_bytes,
            max_condition_depth: self.max_condition_depth,
        }
    }
}

/// Which automaton implementation to use (for benchmarks and tests; the
/// default is the ladder above).
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutomatonKind {
    /// Follow the strategy ladder.
    #[default]
    Auto,
    /// Always an Aho-Corasick DFA.
    Dfa,
    /// Always an Aho-Corasick contiguous NFA.
    ContiguousNfa,
    /// Always an Aho-Corasick noncontiguous NFA (slowest; smallest to build).
    NoncontiguousNfa,
    /// Always a double-array Aho-Corasick automaton (daachorse).
    DoubleArray,
}
