//! `exceptions resolve`: what finance staff do about an exception — re-issue (optionally to a
//! corrected card), cancel the grant, or accept it as explained — under the one rule that
//! matters most: **a grant is never paid twice**. A re-issue is allowed only when the earlier
//! attempt is final-failed and its money is not out of the special account; otherwise it is
//! refused with the reason. Every action goes to the audit log with the state before and after.
//!
//! Every action names a person ([`crate::people::Person`]); a clerk (经办) or a reviewer resolves. Where
//! `[approval]` says so, an action that moves money or changes where it goes — an acceptance, a
//! cancellation, a re-issue to another card or holder, a batch handed over again — is not applied
//! but proposed ([`ResolveOutcome::Proposed`]); a reviewer applies it by approving
//! ([`crate::approvals`]), and what is applied then is [`apply`], exactly as if it had not waited.

use crate::batch::{BatchError, assign_refs, plan_payment};
use crate::config::Config;
use crate::domain::card::{CardNumber, mask_card};
use crate::domain::grant::NewGrant;
use crate::domain::name::normalize_name;
use crate::domain::{ApprovalKind, Fen, Priority, Role, Stage, Tier};
use crate::domain::{ExceptionKind, ExceptionStatus, GrantStatus, LabelZh, Resolution};
use crate::people::Person;
use crate::store::{AuditEntry, EligibleGrant, ExceptionRecord, NewApproval, Store, StoreError, StoreTx, StoredGrant};
use crate::validation;
use serde::Serialize;

/// What to do about an exception.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Pay the grant again (a new attempt), optionally to a corrected card and holder.
    Reissue { card: Option<String>, holder: Option<String> },
    /// Cancel the grant: it will not be paid.
    Cancel,
    /// Accept as explained: nothing changes but the exception is closed.
    Accept,
}

impl Action {
    pub fn name(&self) -> &'static str {
        self.resolution().as_str()
    }

    /// The resolution this action records.
    pub fn resolution(&self) -> Resolution {
        match self {
            Action::Reissue { .. } => Resolution::Reissue,
            Action::Cancel => Resolution::Cancel,
            Action::Accept => Resolution::Accept,
        }
    }
}

/// Why an action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("异常 {0} 不存在")]
    NotFound(i64),
    #[error("异常 {0} 已处理过")]
    AlreadyResolved(i64),
    #[error("异常 {id}（{label}）不涉及具体资助：只能确认无误（--accept）", label = kind.label_zh())]
    NoGrant { id: i64, kind: ExceptionKind },
    #[error("已拒绝：{0}")]
    Refused(String),
    /// The person's role may not do this (or the user is unknown or disabled).
    #[error("无权操作：{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// What `exceptions resolve` came to: done, or waiting for a second person.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ResolveOutcome {
    Applied(Resolved),
    /// `{"proposal": ID, "kind", "message"}`: nothing is applied until a reviewer approves.
    Proposed {
        proposal: i64,
        kind: ApprovalKind,
        message: String,
    },
}

/// What a resolution did (`exceptions resolve --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    pub id: i64,
    pub action: String,
    pub grant_id: Option<String>,
    /// The new payment of a re-issue (it goes out with the next batch).
    pub new_payment_ref: Option<String>,
    /// Other open exceptions of the same grant closed with it.
    pub message: String,
}

fn grant_json(g: &StoredGrant) -> serde_json::Value {
    serde_json::json!({
        "status": g.status, "card_number": mask_card(&g.card_number), "card_holder": g.card_holder,
        "amount": Fen(g.amount_fen).to_string(),
    })
}

/// The parsed form of a stored grant, to run the rules again after a correction.
fn to_new(g: &StoredGrant) -> Option<NewGrant> {
    Some(NewGrant {
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        id_number: g.id_number.clone(),
        school_code: g.school_code.clone(),
        school_name: g.school_name.clone(),
        stage: Stage::parse(&g.stage)?,
        grade: g.grade.clone(),
        program: g.program.clone(),
        tier: Tier::parse(&g.tier)?,
        priority: Priority::parse_list(&g.priority).ok()?,
        period: g.period.clone(),
        amount: Fen(g.amount_fen),
        card_holder: g.card_holder.clone(),
        card_number: g.card_number.clone(),
        bank: g.bank.clone(),
        notice_end: chrono::NaiveDate::parse_from_str(&g.notice_end, "%Y-%m-%d").ok()?,
    })
}

use ExceptionKind as K;

/// Exceptions a re-issue or a cancellation answers for the same grant.
const PAYMENT_KINDS: [ExceptionKind; 4] = [K::BankRejected, K::BankReturned, K::NoAnswer, K::UnencodableName];
/// Held grants whose finding `--accept` cannot explain away: the bank could not pay it as it is.
const NOT_ACCEPTABLE: [(ExceptionKind, &str); 3] = [
    (K::InvalidCard, "卡号未通过校验，不能按原样发放：请用 --reissue --card 更正卡号，或 --cancel 取消"),
    (K::InvalidIdNumber, "身份证号未通过校验，学生身份无法确认：请学校更正后重新报送，或 --cancel 取消"),
    (K::UnencodableName, "银行文件无法写入该户名：请用 --reissue --holder 更正户名写法，或 --cancel 取消"),
];

/// The batch an exception about a whole batch names (`delivery_uncertain:<batch>`).
fn batch_of(dedup_key: &str) -> Option<&str> {
    dedup_key.split_once(':').map(|(_, b)| b)
}

/// Which approval an action on this exception needs under `[approval]`, if any.
async fn approval_needed(tx: &mut StoreTx, cfg: &Config, ex: &ExceptionRecord, action: &Action) -> Result<Option<ApprovalKind>, ResolveError> {
    let rules = &cfg.approval;
    Ok(match action {
        // A batch handed over again, or taken as delivered, on a person's word: as a batch.
        _ if ex.kind == ExceptionKind::DeliveryUncertain => match action {
            Action::Accept if rules.batches => Some(ApprovalKind::Accept),
            Action::Reissue { .. } if rules.batches => Some(ApprovalKind::Reissue),
            _ => None,
        },
        // Accepting a re-sent card is a card change, whatever `accepts` says.
        Action::Accept if ex.kind == ExceptionKind::CardChanged => (rules.card_changes || rules.accepts).then_some(ApprovalKind::CardChange),
        Action::Accept => rules.accepts.then_some(ApprovalKind::Accept),
        Action::Cancel => rules.cancellations.then_some(ApprovalKind::Cancel),
        Action::Reissue { card, holder } if rules.card_changes && (card.is_some() || holder.is_some()) => {
            let grant = match &ex.grant_id {
                Some(gid) => tx.grant(gid).await?,
                None => None,
            };
            let changes = grant.is_none_or(|g| {
                card.as_deref()
                    .is_some_and(|c| CardNumber::parse(c).map(|c| c.as_str().to_string()).unwrap_or_else(|_| c.to_string()) != g.card_number)
                    || holder.as_deref().is_some_and(|h| normalize_name(h) != g.card_holder)
            });
            changes.then_some(ApprovalKind::CardChange)
        }
        Action::Reissue { .. } => None,
    })
}

/// Resolves exception `id` as `person`; a refusal changes nothing.
///
/// Only a clerk or a reviewer resolves (checked by the store too, against the users table). Where `[approval]`
/// asks for a second person, the action is recorded as a proposal and nothing else changes.
pub async fn resolve(store: &Store, cfg: &Config, id: i64, action: &Action, note: &str, person: &Person) -> Result<ResolveOutcome, ResolveError> {
    let mut tx = store.begin().await?;
    if !person.role.may_resolve() || tx.acting_user(&person.username, &[Role::Clerk, Role::Reviewer]).await?.is_none() {
        return Err(ResolveError::Forbidden(format!(
            "{} 的角色（{}）不能处理异常：处理异常须由经办（clerk）或复核（reviewer）进行",
            person.username,
            person.role.label_zh()
        )));
    }
    let ex = tx.exception(id).await?.ok_or(ResolveError::NotFound(id))?;
    if ex.status != ExceptionStatus::Open {
        return Err(ResolveError::AlreadyResolved(id));
    }
    // A card that cannot be paid is refused now, not after a reviewer spent time on it.
    if let Action::Reissue { card: Some(c), .. } = action {
        CardNumber::parse(c).map_err(|e| ResolveError::Refused(format!("--card {}: {e}", mask_card(c))))?;
    }
    if let Some(kind) = approval_needed(&mut tx, cfg, &ex, action).await? {
        let before = match &ex.grant_id {
            Some(gid) => tx.grant(gid).await?.map(|g| grant_json(&g)),
            None => None,
        };
        let mut after = serde_json::to_value(action).unwrap_or_default();
        after["note"] = serde_json::Value::String(note.to_string());
        after["exception_kind"] = serde_json::Value::String(ex.kind.as_str().to_string());
        let proposal = NewApproval {
            kind,
            subject: id.to_string(),
            grant_id: ex.grant_id.clone(),
            proposed_by: person.username.clone(),
            before: Some(serde_json::json!({"exception": id, "kind": ex.kind, "detail": ex.detail, "grant": before})),
            after,
            payload_sha256: None,
        };
        let pid = match tx.insert_approval(&proposal).await? {
            Ok(pid) => pid,
            Err(open) => {
                return Err(ResolveError::Refused(format!("异常 {id} 已有待复核的提议 #{open}，请等待复核或由复核人驳回后再提")));
            }
        };
        tx.audit(&AuditEntry {
            actor: &person.username,
            action: "approval.propose",
            subject: &format!("approval {pid}"),
            before: proposal.before.clone(),
            after: Some(serde_json::json!({"kind": kind.as_str(), "exception": id, "action": action.name(), "note": note})),
        })
        .await?;
        tx.commit().await?;
        return Ok(ResolveOutcome::Proposed {
            proposal: pid,
            kind,
            message: format!("已提交复核（提议 #{pid}，{}）：须由另一位复核人批准后生效", kind.as_str()),
        });
    }
    let done = apply(&mut tx, cfg, &ex, action, note, &person.username).await?;
    tx.commit().await?;
    Ok(ResolveOutcome::Applied(done))
}

/// Applies an action to an open exception inside `tx` (directly, or as a reviewer approves it);
/// `actor` is who the trail names. A refusal is an `Err` and the caller drops the transaction.
///
/// Every path leaves each grant in exactly one owner state (waiting, to be batched, in flight,
/// paid, held with an open exception, cancelled; `aidpay verify` checks it): `--accept` on a held
/// grant's last finding releases it to be paid as imported; `--accept` on a failed payment pays
/// it again to the same card (or is refused with the reason); `--accept` never just closes a
/// finding that holds a grant.
pub async fn apply(tx: &mut StoreTx, cfg: &Config, ex: &ExceptionRecord, action: &Action, note: &str, actor: &str) -> Result<Resolved, ResolveError> {
    let id = ex.id;
    let mut out = Resolved { id, action: action.name().into(), grant_id: ex.grant_id.clone(), new_payment_ref: None, message: String::new() };

    if ex.kind == ExceptionKind::DeliveryUncertain {
        let batch = batch_of(&ex.dedup_key).unwrap_or_default().to_string();
        out.message = delivery_decided(tx, &batch, action, note, actor).await?;
        tx.resolve_exception(id, action.resolution(), note, actor).await?;
        return Ok(out);
    }

    match action {
        Action::Accept => {
            let holds = ex.grant_id.is_some() && (ex.kind.is_about_the_grant() || ex.kind == ExceptionKind::DuplicateGrant);
            let dead = ex.grant_id.is_some() && matches!(ex.kind, K::BankRejected | K::BankReturned);
            if let Some((_, why)) = NOT_ACCEPTABLE.iter().find(|(k, _)| *k == ex.kind) {
                return Err(ResolveError::Refused(why.to_string()));
            }
            if dead {
                // Accepting a failed payment means paying it again: a re-issue to the same card,
                // under every rule of a re-issue (or refused with its reason).
                let gid = ex.grant_id.clone().unwrap_or_default();
                let (new_ref, msg) = reissue(tx, cfg, id, &gid, None, None, Resolution::Accept, note, actor).await.map_err(|e| match e {
                    ResolveError::Refused(why) => ResolveError::Refused(format!("接受该笔失败即以原卡重新发放，但: {why}")),
                    other => other,
                })?;
                out.new_payment_ref = new_ref;
                out.message = format!("已接受，{msg}");
            } else {
                tx.resolve_exception(id, Resolution::Accept, note, actor).await?;
                out.message = if holds {
                    release_if_clear(tx, ex.grant_id.as_deref().unwrap_or_default(), actor).await?
                } else {
                    accepted_words(Some(ex.kind))
                };
            }
            tx.audit(&AuditEntry {
                actor,
                action: "exception.accept",
                subject: &format!("exception {id}"),
                before: Some(serde_json::json!({"status": ExceptionStatus::Open, "kind": ex.kind})),
                after: Some(
                    serde_json::json!({"status": ExceptionStatus::Resolved, "resolution": Resolution::Accept, "note": note, "result": out.message}),
                ),
            })
            .await?;
        }
        Action::Cancel => {
            let gid = ex.grant_id.clone().ok_or_else(|| ResolveError::NoGrant { id, kind: ex.kind })?;
            let grant = tx.grant(&gid).await?.ok_or_else(|| ResolveError::Refused(format!("资助 {gid} 不在库中")))?;
            if let Some(p) = tx.grant_payments(&gid).await?.into_iter().find(|p| p.status.is_live()) {
                return Err(ResolveError::Refused(format!(
                    "资助 {gid} 的支付 {} 仍为“{}”：须待这笔支付最终失败后才能撤销",
                    p.payment_ref,
                    p.status.label_zh()
                )));
            }
            tx.set_grant_status(&gid, GrantStatus::Cancelled).await?;
            tx.resolve_all_grant_exceptions(&gid, Resolution::Cancel, note, actor).await?;
            let after = StoredGrant { status: GrantStatus::Cancelled, ..grant.clone() };
            tx.audit(&AuditEntry {
                actor,
                action: "grant.cancel",
                subject: &gid,
                before: Some(grant_json(&grant)),
                after: Some(serde_json::json!({"grant": grant_json(&after), "exception": id, "note": note})),
            })
            .await?;
            out.message = format!("资助 {gid} 已取消，不再发放");
        }
        Action::Reissue { card, holder } => {
            let gid = ex.grant_id.clone().ok_or_else(|| ResolveError::NoGrant { id, kind: ex.kind })?;
            if ex.kind == ExceptionKind::DuplicateGrant || ex.kind == ExceptionKind::ImportConflict {
                return Err(ResolveError::Refused(format!("“{}”类异常只能撤销（--cancel）或确认无误（--accept），不能重新发放", ex.kind)));
            }
            let (new_ref, msg) = reissue(tx, cfg, id, &gid, card.as_deref(), holder.as_deref(), Resolution::Reissue, note, actor).await?;
            out.new_payment_ref = new_ref;
            out.message = msg;
        }
    }
    tx.resolve_exception(id, action.resolution(), note, actor).await?;
    Ok(out)
}

/// What `--accept` did, for findings that hold no grant.
fn accepted_words(kind: Option<ExceptionKind>) -> String {
    match kind {
        Some(K::ImportConflict) => "已接受：保留原有记录，重新报送的数据不导入".into(),
        Some(K::NoAnswer) => "已接受：该笔支付仍在途，等待银行回执".into(),
        _ => "已接受，作为已说明的情况关闭".into(),
    }
}

/// A held grant whose last open finding was just closed goes back to be paid as imported.
async fn release_if_clear(tx: &mut StoreTx, gid: &str, actor: &str) -> Result<String, ResolveError> {
    let Some(grant) = tx.grant(gid).await? else {
        return Ok(accepted_words(None));
    };
    let open = tx.open_exceptions_of_grant(gid, &ExceptionKind::holding()).await?;
    if open > 0 {
        return Ok(format!("已接受；资助 {gid} 仍有 {open} 条异常待处理，暂不发放"));
    }
    let attempted = !tx.grant_payments(gid).await?.is_empty();
    if grant.status != GrantStatus::Held || attempted {
        return Ok(accepted_words(None));
    }
    tx.set_grant_status(gid, GrantStatus::Valid).await?;
    tx.audit(&AuditEntry {
        actor,
        action: "grant.release",
        subject: gid,
        before: Some(grant_json(&grant)),
        after: Some(serde_json::json!({"status": GrantStatus::Valid})),
    })
    .await?;
    Ok(format!("已接受：资助 {gid} 放行，按导入时的数据（金额 {} 元，卡号 {}）随下一批次发放", Fen(grant.amount_fen), mask_card(&grant.card_number)))
}

/// A person's decision on a batch whose hand-over was in doubt, after checking with the bank.
async fn delivery_decided(tx: &mut StoreTx, batch: &str, action: &Action, note: &str, actor: &str) -> Result<String, ResolveError> {
    let (done, words, audit_action) = match action {
        Action::Accept => (
            tx.finish_delivery(batch, None, &format!("经人工与银行核实已收到: {note}")).await?,
            format!("批次 {batch} 经核实银行已收到，记为已交付"),
            "batch.deliver.confirmed",
        ),
        Action::Reissue { card: None, holder: None } => {
            (tx.retry_doubtful_delivery(batch).await?, format!("批次 {batch} 经核实银行未收到，随下一批次重新交付同一文件"), "batch.deliver.retry")
        }
        Action::Reissue { .. } => {
            return Err(ResolveError::Refused("批次交付核实只能“接受”或“重新发放”，不能更改卡号".into()));
        }
        Action::Cancel => {
            return Err(ResolveError::Refused(format!("批次 {batch} 可能已在银行：请先与银行核实，已收到则 --accept，确认未收到则 --reissue")));
        }
    };
    if !done {
        return Err(ResolveError::Refused(format!("批次 {batch} 已不处于待核实状态")));
    }
    tx.audit(&AuditEntry {
        actor,
        action: audit_action,
        subject: batch,
        before: Some(serde_json::json!({"status": crate::domain::BatchStatus::InDoubt})),
        after: Some(serde_json::json!({"note": note, "result": words})),
    })
    .await?;
    Ok(words)
}

/// Pays grant `gid` again (exception `id` is what is being resolved), optionally to a corrected
/// card and holder: the new payment ref (when an attempt failed before) and the confirmation.
#[allow(clippy::too_many_arguments)]
async fn reissue(
    tx: &mut StoreTx,
    cfg: &Config,
    id: i64,
    gid: &str,
    card: Option<&str>,
    holder: Option<&str>,
    resolution: Resolution,
    note: &str,
    actor: &str,
) -> Result<(Option<String>, String), ResolveError> {
    let grant = tx.grant(gid).await?.ok_or_else(|| ResolveError::Refused(format!("资助 {gid} 不在库中")))?;
    match grant.status {
        GrantStatus::Cancelled => return Err(ResolveError::Refused(format!("资助 {gid} 已撤销"))),
        GrantStatus::Paid => {
            return Err(ResolveError::Refused(format!("资助 {gid} 已发放到账，不能重新发放")));
        }
        _ => {}
    }
    let mut corrected = grant.clone();
    if let Some(c) = card {
        let parsed = CardNumber::parse(c).map_err(|e| ResolveError::Refused(format!("--card {}: {e}", mask_card(c))))?;
        corrected.card_number = parsed.as_str().to_string();
    }
    if let Some(h) = holder {
        corrected.card_holder = normalize_name(h);
    }
    let payments = tx.grant_payments(gid).await?;
    if let Some(p) = payments.iter().find(|p| p.status.is_live()) {
        return Err(ResolveError::Refused(format!(
            "资助 {gid} 的支付 {} 仍为“{}”：须待银行回执确认失败后才能重新发放",
            p.payment_ref,
            p.status.label_zh()
        )));
    }
    if let Some(p) = payments.last().filter(|p| p.money_out) {
        return Err(ResolveError::Refused(format!(
            "支付 {}（{}）的款项可能尚未退回专户：须待对账单上核对到退票后才能重新发放",
            p.payment_ref,
            p.status.label_zh()
        )));
    }
    // The corrected grant must meet every rule again (the duplicate rule was checked at intake).
    let new = to_new(&corrected).ok_or_else(|| ResolveError::Refused(format!("资助 {gid} 的数据无法读取")))?;
    let mut problems: Vec<String> = validation::check(&new, &cfg.rules).into_iter().map(|v| v.detail).collect();
    // A card is one person's: not a card already on file for someone else.
    let uses = tx.grants_by_cards(&[new.card_number.as_str()]).await?;
    if let Some(shared) = validation::card_shared(&new, uses.get(&new.card_number).map(Vec::as_slice).unwrap_or(&[]), &cfg.rules) {
        problems.push(shared.detail);
    }
    if !problems.is_empty() {
        return Err(ResolveError::Refused(format!("资助 {gid} 更正后仍不符合规定：{}", problems.join("；"))));
    }
    // Findings this re-issue does not answer keep the grant held.
    let mut kinds: Vec<ExceptionKind> = PAYMENT_KINDS.to_vec();
    kinds.extend(ExceptionKind::ALL.into_iter().filter(|k| k.is_about_the_grant()));
    tx.resolve_grant_exceptions(gid, &kinds, resolution, note, actor).await?;
    tx.resolve_exception(id, resolution, note, actor).await?;
    let still_open = tx.open_exceptions_of_grant(gid, &ExceptionKind::holding()).await?;
    if still_open > 0 {
        return Err(ResolveError::Refused(format!("资助 {gid} 还有 {still_open} 条其他异常未处理（如重复资助），请先处理后再重新发放")));
    }
    tx.update_grant_card(gid, &corrected.card_number, &corrected.card_holder, GrantStatus::Valid).await?;
    let mut new_ref = None;
    if !payments.is_empty() {
        let attempt = payments.last().map(|p| p.attempt).unwrap_or(0) + 1;
        let eligible = EligibleGrant {
            grant_id: gid.to_string(),
            attempt,
            amount_fen: corrected.amount_fen,
            card_number: corrected.card_number.clone(),
            card_holder: corrected.card_holder.clone(),
            bank: corrected.bank.clone(),
            period: corrected.period.clone(),
            program: corrected.program.clone(),
            // The corrected card is in clear here: the payment row seals it.
            sealed: None,
        };
        let mut p = match plan_payment(cfg, &eligible, attempt)? {
            Ok(p) => vec![p],
            Err((profile, problem)) => {
                return Err(ResolveError::Refused(format!("银行 {profile} 的文件无法写入这笔支付：{problem}")));
            }
        };
        assign_refs(tx, &mut p).await?;
        tx.insert_payments(&cfg.account.number, None, &p).await?;
        new_ref = Some(p[0].payment_ref.clone());
    }
    tx.audit(&AuditEntry {
        actor,
        action: "grant.reissue",
        subject: gid,
        before: Some(grant_json(&grant)),
        after: Some(serde_json::json!({
            "grant": grant_json(&corrected), "new_payment": new_ref, "exception": id, "note": note,
        })),
    })
    .await?;
    let msg = match &new_ref {
        Some(r) => format!("资助 {gid} 重新发放：新支付 {r}（卡号 {}）随下一批次发出", mask_card(&corrected.card_number)),
        None => format!("资助 {gid} 已更正并放行（卡号 {}），随下一批次发放", mask_card(&corrected.card_number)),
    };
    Ok((new_ref, msg))
}
