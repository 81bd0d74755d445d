//! Four eyes (双人复核): nothing that moves money or changes where it goes happens on one person's
//! word, as the banks' own 制单 → 复核 flow has it.
//!
//! What needs a second person is configured in `[approval]` (`batches`, `card_changes`,
//! `cancellations`, `accepts`; the shipped configuration turns all on, a configuration without
//! the section needs none):
//! - **a batch** is made `awaiting_approval` by the batch cycle, with a proposal that records the
//!   SHA-256 of its exact payment list. Approving it makes it `created`, and the next cycle writes
//!   and hands it over — after checking the list still has that hash, so a batch that changed
//!   cannot ride on an old approval. Rejecting it cancels its payments (nothing reached the bank),
//!   their grants go back to be batched again, and the reviewer's reason is on the work list
//!   (`batch_rejected`).
//! - **an exception's resolution** (an acceptance, a cancellation, a re-issue to another card or
//!   holder, a batch handed over again) is proposed by a clerk ([`crate::exceptions::resolve`]);
//!   approving applies it exactly as it would have been applied at once; a refusal then (the
//!   state changed meanwhile) records nothing and leaves the proposal pending.
//!
//! Only a reviewer decides, never on their own proposal: checked here, and by the store itself
//! in the statement that records the decision (`StoreTx::decide_approval`), and by the table's
//! CHECK against a decision by the proposer.

use crate::config::Config;
use crate::domain::ExceptionStatus;
use crate::domain::{ApprovalKind, ApprovalStatus, BatchStatus, Fen};
use crate::exceptions::{Action, ExceptionKind, NewException};
use crate::people::Person;
use crate::store::{ApprovalRow, AuditEntry, DecisionRefused, NewApproval, Store, StoreError, StoreTx};
use serde::Serialize;

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("提议 #{0} 不存在 (no such proposal)")]
    NotFound(i64),
    /// The person may not decide this (not a reviewer, or their own proposal).
    #[error("无权操作：{0}")]
    Forbidden(String),
    /// It cannot be applied as it stands (already decided, or the state changed meanwhile).
    #[error("已拒绝：{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Resolve(#[from] crate::exceptions::ResolveError),
}

/// What a decision did (`approvals approve|reject --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub id: i64,
    pub kind: ApprovalKind,
    pub status: ApprovalStatus,
    pub message: String,
}

/// The proposals of this account: pending ones, or all (newest first). Every role may read them.
pub async fn list(store: &Store, all: bool) -> Result<Vec<ApprovalRow>, StoreError> {
    store.approvals(all, 1000).await
}

/// `person` approves or rejects proposal `id`, with `note`.
pub async fn decide(store: &Store, cfg: &Config, id: i64, decision: Decision, note: &str, person: &Person) -> Result<Decided, ApprovalError> {
    if !person.role.may_decide() {
        return Err(ApprovalError::Forbidden(format!(
            "{} 的角色（{}）不能复核：复核须由复核人（reviewer）进行",
            person.username,
            person.role.label_zh()
        )));
    }
    let mut tx = store.begin().await?;
    let a = tx.approval(id).await?.ok_or(ApprovalError::NotFound(id))?;
    let status = match decision {
        Decision::Approve => ApprovalStatus::Approved,
        Decision::Reject => ApprovalStatus::Rejected,
    };
    // The store records the decision only for an enabled reviewer who did not propose it.
    match tx.decide_approval(id, &person.username, status, note).await? {
        Ok(()) => {}
        Err(DecisionRefused::NotFound) => return Err(ApprovalError::NotFound(id)),
        Err(DecisionRefused::NotPending(s)) => {
            return Err(ApprovalError::Refused(format!("提议 #{id} 已是 {s}，不能再次复核")));
        }
        Err(DecisionRefused::OwnProposal) => {
            return Err(ApprovalError::Forbidden(format!("提议 #{id} 由 {} 本人提出：须由另一人复核", person.username)));
        }
        Err(DecisionRefused::NotAllowed) => {
            return Err(ApprovalError::Forbidden(format!("{} 不是本专户启用的复核人", person.username)));
        }
    }
    let message = match (decision, a.kind) {
        (Decision::Approve, ApprovalKind::Batch) => approve_batch(&mut tx, &a).await?,
        (Decision::Reject, ApprovalKind::Batch) => reject_batch(&mut tx, &a, note, person).await?,
        (Decision::Approve, _) => apply_proposed(&mut tx, cfg, &a, person).await?,
        (Decision::Reject, _) => format!("已驳回提议 #{id}：异常仍待处理（{note}）"),
    };
    tx.audit(&AuditEntry {
        actor: &person.username,
        action: if decision == Decision::Approve { "approval.approve" } else { "approval.reject" },
        subject: &format!("approval {id}"),
        before: Some(serde_json::json!({"status": crate::domain::ApprovalStatus::Pending, "kind": a.kind.as_str(), "subject": a.subject, "proposed_by": a.proposed_by})),
        after: Some(serde_json::json!({"status": status.as_str(), "note": note, "result": message})),
    })
    .await?;
    tx.commit().await?;
    Ok(Decided { id, kind: a.kind, status, message })
}

/// An approved batch may be written and handed over by the next cycle — if its payment list is
/// still the one approved.
async fn approve_batch(tx: &mut StoreTx, a: &ApprovalRow) -> Result<String, ApprovalError> {
    let b = tx.batches_in_any(&a.subject).await?.ok_or_else(|| ApprovalError::Refused(format!("批次 {} 不存在", a.subject)))?;
    if b.status != BatchStatus::AwaitingApproval {
        return Err(ApprovalError::Refused(format!("批次 {} 当前为 {}，不在待复核状态", b.batch_id, b.status)));
    }
    let now = crate::batch::payload_hash(&tx.batch_lines(&b.batch_id).await?);
    if a.payload_sha256.as_deref() != Some(now.as_str()) {
        return Err(ApprovalError::Refused(format!("批次 {} 的支付明细在提交复核后已改变：不能按原提议批准", b.batch_id)));
    }
    tx.set_batch_status(&b.batch_id, BatchStatus::Created).await?;
    Ok(format!("批次 {}（{} 笔，{} 元）已批准，随下一次批次运行交给银行", b.batch_id, b.nb_of_txs, Fen(b.ctrl_sum_fen)))
}

/// A rejected batch never reaches the bank: its payments are cancelled and their grants wait for
/// the next cycle; the reviewer's reason goes on the work list.
async fn reject_batch(tx: &mut StoreTx, a: &ApprovalRow, note: &str, person: &Person) -> Result<String, ApprovalError> {
    let b = tx.batches_in_any(&a.subject).await?.ok_or_else(|| ApprovalError::Refused(format!("批次 {} 不存在", a.subject)))?;
    if b.status != BatchStatus::AwaitingApproval {
        return Err(ApprovalError::Refused(format!("批次 {} 当前为 {}，不在待复核状态", b.batch_id, b.status)));
    }
    let cancelled = tx.cancel_batch_payments(&b.batch_id).await?;
    tx.set_batch_status(&b.batch_id, BatchStatus::Rejected).await?;
    tx.insert_exceptions(&[NewException::new(
        ExceptionKind::BatchRejected,
        &b.batch_id,
        format!(
            "批次 {}（{} 笔，{} 元，银行 {}）被复核人 {} 驳回: {note}；其中 {cancelled} 笔支付已作废，相关资助将随下一次批次运行重新组批",
            b.batch_id,
            b.nb_of_txs,
            Fen(b.ctrl_sum_fen),
            b.profile,
            person.label()
        ),
    )
    .amount(Some(b.ctrl_sum_fen))])
        .await?;
    Ok(format!("批次 {} 已驳回，{cancelled} 笔支付作废，资助将重新组批", b.batch_id))
}

/// Applies what a clerk proposed for an exception, as the reviewer approves it.
async fn apply_proposed(tx: &mut StoreTx, cfg: &Config, a: &ApprovalRow, person: &Person) -> Result<String, ApprovalError> {
    let exception_id: i64 = a.subject.parse().map_err(|_| ApprovalError::Refused(format!("提议 #{} 的对象 {} 不是异常编号", a.id, a.subject)))?;
    let action: Action = serde_json::from_value(a.after.clone()).map_err(|e| ApprovalError::Refused(format!("提议 #{} 无法读取: {e}", a.id)))?;
    let note = a.after["note"].as_str().unwrap_or_default().to_string();
    let ex = tx.exception(exception_id).await?.ok_or_else(|| ApprovalError::Refused(format!("异常 {exception_id} 不存在")))?;
    if ex.status != ExceptionStatus::Open {
        return Err(ApprovalError::Refused(format!("异常 {exception_id} 已处理，提议已过时")));
    }
    // The trail names both: who proposed, who approved.
    let actor = format!("{}/{}", a.proposed_by, person.username);
    let done = crate::exceptions::resolve::apply(tx, cfg, &ex, &action, &note, &actor).await?;
    Ok(format!("已批准 {} 的提议: {}", a.proposed_by, done.message))
}

/// Proposals for new batches (the batch cycle calls this for every batch it makes awaiting
/// approval), each recording its payment list's hash. `proposed_by` is who ran the cycle.
pub async fn propose_batches(tx: &mut StoreTx, batch_ids: &[String], proposed_by: &str) -> Result<(), StoreError> {
    for id in batch_ids {
        let Some(b) = tx.batches_in_any(id).await? else {
            continue;
        };
        let lines = tx.batch_lines(id).await?;
        let proposal = NewApproval {
            kind: ApprovalKind::Batch,
            subject: id.clone(),
            grant_id: None,
            proposed_by: proposed_by.to_string(),
            before: None,
            after: serde_json::json!({
                "batch_id": id, "profile": b.profile, "payments": b.nb_of_txs, "total": Fen(b.ctrl_sum_fen).to_string(),
                "execution_date": b.execution_date,
            }),
            payload_sha256: Some(crate::batch::payload_hash(&lines)),
        };
        // A batch already pending keeps its proposal (nothing new to record).
        let Ok(id) = tx.insert_approval(&proposal).await? else {
            continue;
        };
        tx.audit(&AuditEntry {
            actor: proposed_by,
            action: "approval.propose",
            subject: &format!("approval {id}"),
            before: None,
            after: Some(
                serde_json::json!({"kind": "batch", "subject": proposal.subject, "after": proposal.after, "payload_sha256": proposal.payload_sha256}),
            ),
        })
        .await?;
    }
    Ok(())
}
