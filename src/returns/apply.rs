//! Matching the bank's statuses to what we sent, by end-to-end reference, and what each one
//! means for the payment — the state machine of an attempt:
//!
//! ```text
//! created ─deliver→ sent ─ACCP/ACSP→ accepted ─ACSC→ settled ─RJCT (退票)→ returned
//!                    └──────────── RJCT ─────────────→ rejected
//! ```
//!
//! A payment that is rejected or returned puts its grant on hold (`held`) beside the exception
//! that says why: the grant waits for a person to re-issue or cancel it.
//! A final status seen again is `duplicate_status` (no second effect). A status for a reference
//! we never sent is `unknown_reference`. An amount or card that differs from what we sent is
//! `amount_mismatch` / `account_mismatch`. AC04 and AC06 mark the card closed or frozen.

use crate::domain::card::mask_card;
use crate::domain::reason::describe_zh;
use crate::domain::{AnswerMove, BankVerdict, CardStatus, Fen, GrantStatus, LabelZh, PaymentStatus};
use crate::exceptions::{ExceptionKind, NewException};
use crate::store::{PaymentEvent, PaymentState, StoreError, StoreTx};
use std::collections::HashMap;

/// One status for one payment, whatever file it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub reference: String,
    /// ISO 20022 status: ACSC, ACCC, ACSP, ACCP, ACTC, PDNG, RCVD, RJCT, …
    pub status: String,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
    pub amount: Option<Fen>,
    pub account: Option<String>,
}

/// What a status means for a payment (the domain's [`BankVerdict`]).
pub use crate::domain::BankVerdict as Meaning;

/// ISO status codes by meaning; unknown codes are kept in the history and change nothing.
pub fn meaning(status: &str) -> Meaning {
    BankVerdict::of_code(status)
}

/// What applying a chunk of answers did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub statuses: u64,
    pub settled: u64,
    pub rejected: u64,
    pub returned: u64,
    pub unknown: u64,
    pub duplicates: u64,
}

fn reason_words(a: &Answer) -> String {
    match (&a.reason_code, &a.reason_text) {
        (Some(c), Some(t)) if !t.is_empty() => format!("{c} {}（{t}）", describe_zh(c)),
        (Some(c), _) => format!("{c} {}", describe_zh(c)),
        (None, Some(t)) => t.clone(),
        (None, None) => "未说明原因".into(),
    }
}

fn exception(kind: ExceptionKind, p: Option<&PaymentState>, a: &Answer, detail: String, subject: String) -> NewException {
    NewException {
        grant_id: p.map(|p| p.grant_id.clone()),
        ..NewException::new(kind, subject, detail)
            .payment(Some(a.reference.clone()))
            .reason(a.reason_code.clone())
            .amount(p.map(|p| p.amount_fen).or(a.amount.map(|f| f.0)))
    }
}

/// Applies answers (in file order) inside the file's transaction.
pub async fn apply(tx: &mut StoreTx, file_id: i64, answers: &[Answer]) -> Result<Applied, StoreError> {
    let refs: Vec<&str> = answers.iter().map(|a| a.reference.as_str()).collect();
    let mut known = tx.payments_by_refs(&refs).await?;
    let mut out = Applied::default();
    let mut events = Vec::with_capacity(answers.len());
    let mut raised = Vec::new();
    // ref → (status, reason, money_out): the last state of each payment touched.
    let mut changed: HashMap<String, (PaymentStatus, Option<String>, bool)> = HashMap::new();

    for a in answers {
        out.statuses += 1;
        events.push(PaymentEvent {
            payment_ref: a.reference.clone(),
            status: a.status.clone(),
            reason_code: a.reason_code.clone(),
            reason_text: a.reason_text.clone(),
        });
        let Some(p) = known.get_mut(&a.reference) else {
            out.unknown += 1;
            raised.push(exception(
                ExceptionKind::UnknownReference,
                None,
                a,
                format!("银行回执中的流水号 {} 不是本系统发出的（状态 {}，{}）", a.reference, a.status, reason_words(a)),
                format!("{}:{}", a.reference, a.status),
            ));
            continue;
        };
        if let Some(amount) = a.amount
            && amount.0 != p.amount_fen
        {
            raised.push(exception(
                ExceptionKind::AmountMismatch,
                Some(p),
                a,
                format!("银行回执金额 {} 与发送金额 {} 不符（{}）", amount, Fen(p.amount_fen), a.reference),
                format!("{}:{}", a.reference, amount.0),
            ));
        }
        if let Some(acct) = &a.account {
            let digits: String = acct.chars().filter(|c| !c.is_whitespace()).collect();
            if !digits.is_empty() && digits != p.card_number {
                raised.push(exception(
                    ExceptionKind::AccountMismatch,
                    Some(p),
                    a,
                    format!("银行回执账号 {} 与发送账号 {} 不符（{}）", mask_card(&digits), mask_card(&p.card_number), a.reference),
                    format!("{}:{}", a.reference, digits),
                ));
            }
        }
        let before = p.status;
        let next = match before.on_answer(BankVerdict::of_code(&a.status)) {
            AnswerMove::To(next) => next,
            AnswerMove::Repeat { same } => {
                out.duplicates += 1;
                let words = if same { "重复的最终状态，未再次处理" } else { "与已有最终状态矛盾，未处理" };
                raised.push(exception(
                    ExceptionKind::DuplicateStatus,
                    Some(p),
                    a,
                    format!("{}: 银行再次报告 {}（当前 {}）: {words}", a.reference, a.status, before.label_zh()),
                    format!("{}:{}", a.reference, a.status),
                ));
                continue;
            }
            AnswerMove::Nothing => continue,
        };
        let card = mask_card(&p.card_number);
        match next {
            PaymentStatus::Settled => {
                out.settled += 1;
                p.money_out = true;
            }
            PaymentStatus::Rejected => {
                out.rejected += 1;
                raised.push(exception(
                    ExceptionKind::BankRejected,
                    Some(p),
                    a,
                    format!("{}: {}；卡号 {card}", a.reference, reason_words(a)),
                    a.reference.to_string(),
                ));
            }
            PaymentStatus::Returned => {
                // The money reached the card and is coming back (退票): it stays "out" until the
                // return credit is matched on a statement.
                out.returned += 1;
                raised.push(exception(
                    ExceptionKind::BankReturned,
                    Some(p),
                    a,
                    format!("{}: 已成功后被退回（退票）: {}；卡号 {card}；退款入账后方可重新发放", a.reference, reason_words(a)),
                    a.reference.to_string(),
                ));
            }
            _ => {}
        }
        if next.is_failed() {
            match a.reason_code.as_deref() {
                Some("AC04") => tx.set_card_status(&p.card_number, CardStatus::Closed).await?,
                Some("AC06") => tx.set_card_status(&p.card_number, CardStatus::Frozen).await?,
                _ => {}
            }
        }
        p.status = next;
        let reason = if next.is_failed() { a.reason_code.clone() } else { None };
        changed.insert(a.reference.clone(), (next, reason, p.money_out));
    }

    // A grant whose attempt died waits for a person (its exception is raised above): held, so
    // it is never silently nobody's. A settled grant already counted as paid is held again too.
    let mut dead_grants: Vec<String> =
        changed.iter().filter(|(_, (s, _, _))| s.is_failed()).filter_map(|(r, _)| known.get(r).map(|p| p.grant_id.clone())).collect();
    dead_grants.sort();
    dead_grants.dedup();
    let updates: Vec<(String, PaymentStatus, Option<String>, bool)> = changed.into_iter().map(|(r, (s, reason, out))| (r, s, reason, out)).collect();
    tx.update_payments(&updates).await?;
    tx.set_grants_status(&dead_grants, GrantStatus::Held, &[GrantStatus::Valid, GrantStatus::Paid]).await?;
    tx.insert_payment_events(file_id, &events).await?;
    tx.insert_exceptions(&raised).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_meaning() {
        assert_eq!(meaning("ACSC"), Meaning::Settled);
        assert_eq!(meaning("ACCP"), Meaning::Accepted);
        assert_eq!(meaning("RJCT"), Meaning::Rejected);
        assert_eq!(meaning("PDNG"), Meaning::Pending);
        assert_eq!(meaning("XYZ"), Meaning::Pending, "unknown codes change nothing");
    }
}
