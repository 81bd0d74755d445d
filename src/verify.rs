//! `aidpay verify`: the invariants "never pay twice, never lose a grant" rest on, checked against
//! the store and the outbox, so an administrator or an auditor can see they hold.
//!
//! - **Every grant has exactly one owner** ([`OwnerState`]): it has its one state row
//!   (`grant_states`, keyed by the grant), and it waits for its public notice to end,
//!   is valid and to be batched, is in flight (one live payment), is paid, is held *with an open
//!   exception* (someone's work list), or is cancelled. A grant in none of these — held with no
//!   open exception, valid with only failed attempts — is nobody's, and that is a violation.
//! - **At most one live payment per grant** (the database's unique index makes a second one
//!   impossible; checked anyway).
//! - **Batch sums**: a batch's count and control sum equal its payments', and its payments' states
//!   fit the batch's (none still `created` once the batch is delivered).
//! - **Files**: the outbox copy of every batch file written has the bytes its recorded SHA-256 says.
//!
//! Read-only: it never creates the store, changes nothing, and exits 1 with the list when a check fails.

use crate::domain::{GrantStatus, LabelZh};
use crate::store::{GrantFacts, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Violations listed in full; beyond this they are counted.
const MAX_LISTED: usize = 1000;
/// Grants read per step.
const CHUNK: i64 = 20_000;

/// The one state a grant is in, as far as who owns it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerState {
    /// Valid, never attempted, its public notice (公示) not yet ended.
    Waiting,
    /// Valid, never attempted, notice ended: the next batch cycle takes it.
    ToBatch,
    /// One live payment (created, sent, accepted or settled, not yet reconciled as paid).
    InFlight,
    Paid,
    /// Held with an open exception: on the finance staff's work list.
    Held,
    Cancelled,
}

impl OwnerState {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerState::Waiting => "waiting",
            OwnerState::ToBatch => "to_batch",
            OwnerState::InFlight => "in_flight",
            OwnerState::Paid => "paid",
            OwnerState::Held => "held",
            OwnerState::Cancelled => "cancelled",
        }
    }
}

/// The owner state of a grant from its facts, or why it has none. `today` is `YYYY-MM-DD`.
pub fn owner_state(f: &GrantFacts, today: &str) -> Result<OwnerState, String> {
    if f.live > 1 {
        return Err(format!("有 {} 笔在途支付（一笔资助至多一笔）", f.live));
    }
    let Some(status) = f.status else {
        return Err("资助没有状态记录（grant_states 中缺少这一行）：无人处理".into());
    };
    match status {
        GrantStatus::Valid if f.live == 1 => Ok(OwnerState::InFlight),
        GrantStatus::Valid if f.failed == 0 => Ok(if f.notice_end.as_str() < today { OwnerState::ToBatch } else { OwnerState::Waiting }),
        GrantStatus::Valid => Err(format!("{} 次支付均已失败，但资助既未挂起也无新的支付：无人处理", f.failed)),
        GrantStatus::Held if f.live > 0 => Err("资助已挂起却仍有在途支付".into()),
        GrantStatus::Held if f.open_exceptions == 0 => Err("资助已挂起但没有待处理的异常：不在任何人的工作清单上".into()),
        GrantStatus::Held => Ok(OwnerState::Held),
        GrantStatus::Paid if f.settled == 1 => Ok(OwnerState::Paid),
        GrantStatus::Paid => Err("资助记为已发放，但没有已结算的支付".into()),
        GrantStatus::Cancelled if f.live == 0 => Ok(OwnerState::Cancelled),
        GrantStatus::Cancelled => Err("资助已取消却仍有在途支付".into()),
    }
}

/// One failed check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Violation {
    /// `owner_state`, `one_live_payment`, `batch_sums`, `batch_payments`, `file_hash`.
    pub check: &'static str,
    /// The grant or batch concerned.
    pub subject: String,
    pub detail: String,
}

/// What `verify` found (`verify --json`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct VerifyReport {
    pub ok: bool,
    pub account: String,
    pub grants: u64,
    /// Grants per owner state (`waiting`, `to_batch`, `in_flight`, `paid`, `held`, `cancelled`).
    pub owner_states: BTreeMap<&'static str, u64>,
    pub batches: u64,
    pub files_checked: u64,
    pub violations: Vec<Violation>,
    /// Violations beyond the first 1,000, counted but not listed.
    pub violations_not_listed: u64,
}

impl VerifyReport {
    fn push(&mut self, v: Violation) {
        self.ok = false;
        if self.violations.len() < MAX_LISTED {
            self.violations.push(v);
        } else {
            self.violations_not_listed += 1;
        }
    }
}

/// Checks every invariant for `account`, whose batch files are in `outbox`.
pub async fn run(store: &Store, account: &str, outbox: &Path) -> Result<VerifyReport, StoreError> {
    let today = crate::clock::today().to_string();
    let mut report = VerifyReport { ok: true, account: account.to_string(), ..Default::default() };
    for s in [OwnerState::Waiting, OwnerState::ToBatch, OwnerState::InFlight, OwnerState::Paid, OwnerState::Held, OwnerState::Cancelled] {
        report.owner_states.insert(s.as_str(), 0);
    }

    let mut after = String::new();
    loop {
        let facts = store.grant_facts(account, &after, CHUNK).await?;
        let Some(last) = facts.last() else { break };
        after = last.grant_id.clone();
        for f in &facts {
            report.grants += 1;
            match owner_state(f, &today) {
                Ok(s) => *report.owner_states.entry(s.as_str()).or_default() += 1,
                Err(detail) => report.push(Violation { check: "owner_state", subject: f.grant_id.clone(), detail }),
            }
        }
    }
    for grant in store.states_without_grant(account, MAX_LISTED as i64 + 1).await? {
        report.push(Violation { check: "owner_state", subject: grant, detail: "有状态记录（grant_states）却没有这笔资助".into() });
    }
    for (grant, n) in store.grants_with_two_live(account).await? {
        report.push(Violation { check: "one_live_payment", subject: grant, detail: format!("{n} 笔在途支付") });
    }

    for b in store.batch_facts(account).await? {
        report.batches += 1;
        if b.nb_of_txs != b.payments || b.ctrl_sum_fen != b.payments_sum_fen {
            report.push(Violation {
                check: "batch_sums",
                subject: b.batch_id.clone(),
                detail: format!(
                    "批次记录 {} 笔 {} 元，其支付合计 {} 笔 {} 元",
                    b.nb_of_txs,
                    crate::domain::Fen(b.ctrl_sum_fen),
                    b.payments,
                    crate::domain::Fen(b.payments_sum_fen)
                ),
            });
        }
        if b.payments_out_of_step > 0 {
            report.push(Violation {
                check: "batch_payments",
                subject: b.batch_id.clone(),
                detail: format!("批次状态 {}，其中 {} 笔支付的状态与之不符", b.status.label_zh(), b.payments_out_of_step),
            });
        }
        let Some(name) = b.file_name.as_deref() else { continue };
        report.files_checked += 1;
        let path = outbox.join(name);
        let problem = match (crate::files::sha256_of_file(&path), b.sha256.as_deref()) {
            (Ok(actual), Some(recorded)) if actual == recorded => None,
            (Ok(actual), Some(recorded)) => Some(format!("发送目录中的 {name} 哈希 {actual} 与登记的 {recorded} 不符")),
            (Ok(_), None) => Some(format!("{name} 没有登记的哈希")),
            (Err(e), _) => Some(format!("发送目录中的 {name} 无法读取: {e}")),
        };
        if let Some(detail) = problem {
            report.push(Violation { check: "file_hash", subject: b.batch_id.clone(), detail });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: &str, live: i64, settled: i64, failed: i64, open: i64) -> GrantFacts {
        GrantFacts {
            grant_id: "G1".into(),
            status: Some(GrantStatus::parse(status).expect("a grant status")),
            notice_end: "2026-10-20".into(),
            live,
            settled,
            failed,
            open_exceptions: open,
        }
    }

    #[test]
    fn every_owner_state_and_every_way_of_having_none() {
        let today = "2026-11-25";
        assert_eq!(owner_state(&facts("valid", 0, 0, 0, 0), today), Ok(OwnerState::ToBatch));
        assert_eq!(owner_state(&facts("valid", 0, 0, 0, 0), "2026-10-01"), Ok(OwnerState::Waiting));
        assert_eq!(owner_state(&facts("valid", 1, 0, 1, 1), today), Ok(OwnerState::InFlight));
        assert_eq!(owner_state(&facts("paid", 1, 1, 1, 0), today), Ok(OwnerState::Paid));
        assert_eq!(owner_state(&facts("held", 0, 0, 1, 1), today), Ok(OwnerState::Held));
        assert_eq!(owner_state(&facts("cancelled", 0, 0, 2, 0), today), Ok(OwnerState::Cancelled));
        let stateless = GrantFacts { status: None, ..facts("valid", 0, 0, 0, 0) };
        assert!(owner_state(&stateless, today).unwrap_err().contains("grant_states"));
        for nobody in [facts("held", 0, 0, 0, 0), facts("valid", 0, 0, 1, 0), facts("paid", 0, 0, 1, 0), facts("cancelled", 1, 0, 1, 0), facts("held", 1, 0, 1, 1), facts("valid", 2, 0, 2, 0)] {
            assert!(owner_state(&nobody, today).is_err(), "{nobody:?}");
        }
    }
}
