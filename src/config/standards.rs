//! The standards table (资助标准): the amount a grant must have, by program × stage × tier ×
//! period, as `[standards]` configures it.

use crate::domain::{Fen, Stage, Tier};
use std::collections::HashMap;

/// Which tiers a standard applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierRule {
    Only(Tier),
    Any,
}

/// The standards table (资助标准), looked up by program × stage × tier × period.
#[derive(Debug, Default, Clone)]
pub struct Standards {
    // (program, stage, tier rule, period or "") → amount
    table: HashMap<(String, Stage, TierRule, String), Fen>,
}

impl Standards {
    /// The standard for a grant: a period-specific entry wins over a general one, a tier-specific
    /// one over `*`.
    pub fn lookup(&self, program: &str, stage: Stage, tier: Tier, period: &str) -> Option<(Fen, TierRule)> {
        for p in [period, ""] {
            for rule in [TierRule::Only(tier), TierRule::Any] {
                if let Some(f) = self.table.get(&(program.to_string(), stage, rule, p.to_string())) {
                    return Some((*f, rule));
                }
            }
        }
        None
    }

    pub fn insert(&mut self, program: &str, stage: Stage, tier: TierRule, period: &str, amount: Fen) {
        self.table.insert((program.to_string(), stage, tier, period.to_string()), amount);
    }

    /// Whether this exact entry is configured (a second one for it is a mistake).
    pub fn contains(&self, program: &str, stage: Stage, tier: TierRule, period: &str) -> bool {
        self.table.contains_key(&(program.to_string(), stage, tier, period.to_string()))
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}
