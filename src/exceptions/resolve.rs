//! `exceptions resolve`: what finance staff do about an exception — re-issue (optionally to a
//! corrected card), cancel the grant, or accept it as explained — under the one rule that
//! matters most: **a grant is never paid twice**. A re-issue is allowed only when the earlier
//! attempt is final-failed and its money is not out of the special account; otherwise it is
//! refused with the reason. Every action goes to the audit log with the state before and after.

use crate::batch::{BatchError, assign_refs, plan_payment};
use crate::config::Config;
use crate::domain::card::{CardNumber, mask_card};
use crate::domain::grant::NewGrant;
use crate::domain::name::normalize_name;
use crate::domain::{Fen, Priority, Stage, Tier};
use crate::store::{AuditEntry, EligibleGrant, Store, StoreError, StoredGrant};
use crate::validation;
use serde::Serialize;

/// What to do about an exception.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Pay the grant again (a new attempt), optionally to a corrected card and holder.
    Reissue { card: Option<String>, holder: Option<String> },
    /// Cancel the grant: it will not be paid.
    Cancel,
    /// Accept as explained: nothing changes but the exception is closed.
    Accept,
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Reissue { .. } => "reissue",
            Action::Cancel => "cancel",
            Action::Accept => "accept",
        }
    }
}

/// Why an action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("exception {0} does not exist")]
    NotFound(i64),
    #[error("exception {0} is already resolved")]
    AlreadyResolved(i64),
    #[error("exception {id} ({kind}) concerns no grant: only --accept applies")]
    NoGrant { id: i64, kind: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Batch(#[from] BatchError),
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

/// Live payment states: while one exists the grant may be paid by it, so no second one.
const LIVE: [&str; 4] = ["created", "sent", "accepted", "settled"];
/// Exceptions a re-issue or a cancellation answers for the same grant.
const PAYMENT_KINDS: [&str; 4] = ["bank_rejected", "bank_returned", "no_answer", "unencodable_name"];
const INTAKE_KINDS: [&str; 4] = ["invalid_card", "holder_mismatch", "unencodable_name", "invalid_id_number"];

/// Resolves exception `id`; a refusal changes nothing.
pub async fn resolve(store: &Store, cfg: &Config, id: i64, action: &Action, note: &str, actor: &str) -> Result<Resolved, ResolveError> {
    let mut tx = store.begin().await?;
    let ex = tx.exception(id).await?.ok_or(ResolveError::NotFound(id))?;
    if ex.status != "open" {
        return Err(ResolveError::AlreadyResolved(id));
    }
    let mut out = Resolved { id, action: action.name().into(), grant_id: ex.grant_id.clone(), new_payment_ref: None, message: String::new() };

    match action {
        Action::Accept => {
            out.message = "accepted as explained".into();
            tx.audit(&AuditEntry {
                actor,
                action: "exception.accept",
                subject: &format!("exception {id}"),
                before: Some(serde_json::json!({"status": "open", "kind": ex.kind})),
                after: Some(serde_json::json!({"status": "resolved", "resolution": "accept", "note": note})),
            })
            .await?;
        }
        Action::Cancel => {
            let gid = ex.grant_id.clone().ok_or_else(|| ResolveError::NoGrant { id, kind: ex.kind.clone() })?;
            let grant = tx.grant(&gid).await?.ok_or_else(|| ResolveError::Refused(format!("grant {gid} is not in the store")))?;
            if let Some((r, _, st, _)) = tx.grant_payments(&gid).await?.into_iter().find(|p| LIVE.contains(&p.2.as_str())) {
                return Err(ResolveError::Refused(format!(
                    "grant {gid} has payment {r} that is still {st}; it can be cancelled once that attempt is final-failed"
                )));
            }
            tx.set_grant_status(&gid, "cancelled").await?;
            let mut kinds: Vec<&str> = PAYMENT_KINDS.to_vec();
            kinds.extend(INTAKE_KINDS);
            kinds.extend(["amount_off_standard", "priority_not_top_tier", "duplicate_grant", "import_conflict"]);
            tx.resolve_grant_exceptions(&gid, &kinds, "cancel", note, actor).await?;
            let after = StoredGrant { status: "cancelled".into(), ..grant.clone() };
            tx.audit(&AuditEntry {
                actor,
                action: "grant.cancel",
                subject: &gid,
                before: Some(grant_json(&grant)),
                after: Some(serde_json::json!({"grant": grant_json(&after), "exception": id, "note": note})),
            })
            .await?;
            out.message = format!("grant {gid} cancelled");
        }
        Action::Reissue { card, holder } => {
            let gid = ex.grant_id.clone().ok_or_else(|| ResolveError::NoGrant { id, kind: ex.kind.clone() })?;
            if ex.kind == "duplicate_grant" || ex.kind == "import_conflict" {
                return Err(ResolveError::Refused(format!("a {} is settled with --cancel or --accept, not by paying again", ex.kind)));
            }
            let grant = tx.grant(&gid).await?.ok_or_else(|| ResolveError::Refused(format!("grant {gid} is not in the store")))?;
            if grant.status == "cancelled" {
                return Err(ResolveError::Refused(format!("grant {gid} is cancelled")));
            }
            let mut corrected = grant.clone();
            if let Some(c) = card {
                let parsed = CardNumber::parse(c).map_err(|e| ResolveError::Refused(format!("--card {}: {e}", mask_card(c))))?;
                corrected.card_number = parsed.as_str().to_string();
            }
            if let Some(h) = holder {
                corrected.card_holder = normalize_name(h);
            }
            let payments = tx.grant_payments(&gid).await?;
            if let Some((r, _, st, _)) = payments.iter().find(|p| LIVE.contains(&p.2.as_str())) {
                return Err(ResolveError::Refused(format!(
                    "payment {r} of grant {gid} is still {st}: a re-issue waits until the bank has answered it as failed"
                )));
            }
            if let Some((r, _, st, true)) = payments.last() {
                return Err(ResolveError::Refused(format!(
                    "payment {r} ({st}) may still have its money out of the special account: the re-issue waits until the returned money (退票) is matched on a statement"
                )));
            }
            // The corrected grant must meet every rule again (the duplicate rule was checked at intake).
            let new = to_new(&corrected).ok_or_else(|| ResolveError::Refused(format!("grant {gid} cannot be read back")))?;
            let problems: Vec<String> = validation::check(&new, &cfg.rules).into_iter().map(|v| v.detail).collect();
            if !problems.is_empty() {
                return Err(ResolveError::Refused(format!("grant {gid} still breaks a rule: {}", problems.join("; "))));
            }
            corrected.status = "valid".into();
            tx.update_grant_card(&gid, &corrected.card_number, &corrected.card_holder, "valid").await?;
            if !payments.is_empty() {
                let attempt = payments.last().map(|p| p.1).unwrap_or(0) + 1;
                let eligible = EligibleGrant {
                    grant_id: gid.clone(),
                    amount_fen: corrected.amount_fen,
                    card_number: corrected.card_number.clone(),
                    card_holder: corrected.card_holder.clone(),
                    bank: corrected.bank.clone(),
                    period: corrected.period.clone(),
                    program: corrected.program.clone(),
                };
                let mut p = match plan_payment(cfg, &eligible, attempt)? {
                    Ok(p) => vec![p],
                    Err((profile, problem)) => {
                        return Err(ResolveError::Refused(format!("bank profile {profile} cannot carry this payment: {problem}")));
                    }
                };
                assign_refs(&mut tx, &mut p).await?;
                tx.insert_payments(&cfg.account.number, None, &p).await?;
                out.new_payment_ref = Some(p[0].payment_ref.clone());
            }
            let mut kinds: Vec<&str> = PAYMENT_KINDS.to_vec();
            kinds.extend(INTAKE_KINDS);
            kinds.push("amount_off_standard");
            kinds.push("priority_not_top_tier");
            tx.resolve_grant_exceptions(&gid, &kinds, "reissue", note, actor).await?;
            tx.audit(&AuditEntry {
                actor,
                action: "grant.reissue",
                subject: &gid,
                before: Some(grant_json(&grant)),
                after: Some(serde_json::json!({
                    "grant": grant_json(&corrected), "new_payment": out.new_payment_ref, "exception": id, "note": note,
                })),
            })
            .await?;
            out.message = match &out.new_payment_ref {
                Some(r) => format!("grant {gid}: new payment {r} goes out with the next batch"),
                None => format!("grant {gid} released: it goes out with the next batch"),
            };
        }
    }
    tx.resolve_exception(id, action.name(), note, actor).await?;
    tx.commit().await?;
    Ok(out)
}
