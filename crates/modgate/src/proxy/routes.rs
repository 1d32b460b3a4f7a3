//! The route table: `[[route]]` rules in order, each naming the source of the modules its
//! patterns match (or refusing them), and the default source for the rest. A request is
//! routed once; the source it was given travels with its fills.

use crate::errors::ServeError;
use crate::source::SharedSource;

struct Rule {
    /// GOPRIVATE-syntax module patterns.
    patterns: String,
    /// `None`: the route denies these modules.
    source: Option<SharedSource>,
}

pub struct Routes {
    rules: Vec<Rule>,
    default: SharedSource,
    /// Route decisions made, counted in debug builds (tests show each request is routed once).
    #[cfg(debug_assertions)]
    lookups: std::sync::atomic::AtomicU64,
}

impl Routes {
    /// Every module served by `default`.
    pub fn new(default: SharedSource) -> Self {
        Self {
            rules: Vec::new(),
            default,
            #[cfg(debug_assertions)]
            lookups: Default::default(),
        }
    }

    /// Adds a rule after the existing ones; `source: None` denies the modules it matches.
    pub fn rule(mut self, patterns: &str, source: Option<SharedSource>) -> Self {
        self.rules.push(Rule { patterns: patterns.to_string(), source });
        self
    }

    /// The source that serves a module: the first matching rule's, else the default; a deny
    /// rule refuses it.
    pub fn resolve(&self, module: &str) -> Result<&SharedSource, ServeError> {
        #[cfg(debug_assertions)]
        self.lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for rule in &self.rules {
            if gomod::glob::match_prefix_patterns(&rule.patterns, module) {
                return rule
                    .source
                    .as_ref()
                    .ok_or_else(|| ServeError::Forbidden(format!("{module}: denied by route {:?}", rule.patterns)));
            }
        }
        Ok(&self.default)
    }

    /// Whether any route can answer anything (not only `off`).
    pub fn can_answer(&self) -> bool {
        self.default.can_answer() || self.rules.iter().any(|r| r.source.as_ref().is_some_and(|s| s.can_answer()))
    }

    /// Route decisions made so far (debug builds; always 0 in release builds).
    pub fn lookups(&self) -> u64 {
        #[cfg(debug_assertions)]
        return self.lookups.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(debug_assertions))]
        return 0;
    }
}
