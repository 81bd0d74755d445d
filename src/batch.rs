//! The batch cycle: valid unpaid grants → payments → batches → files → the bank.
//!
//! Three steps, each ending in a commit, so that a process killed at any instant and started
//! again picks up exactly where it was and neither pays a grant twice nor forgets one:
//!
//! 1. **reserve** (one transaction): a payment with a fresh end-to-end reference for every
//!    eligible grant, grouped into batches per bank profile and split at the profile's
//!    maximum lines. The partial unique index on live payments makes a second payment for the
//!    same grant impossible, whatever happens.
//! 2. **write**: each `created` batch is rendered from the store alone (its payments, its stored
//!    creation time), so rendering again gives the same bytes; the file is put in the outbox
//!    atomically and its hash recorded (`written`).
//! 3. **deliver**: the recorded file is handed over to the bank — its drop folder or its gateway —
//!    and the batch becomes `delivered`, its payments `sent`. The hand-over is the commit point:
//!    recorded as an intent before it can happen, decided from what is observable after a crash,
//!    and never repeated without proof that the bank does not have the file ([`crate::delivery`]).
//!
//! A known statement balance caps what may go out: a batch that would exceed it is `held` with an
//! `insufficient_balance` exception and released by a later cycle once money has come in.

use crate::config::{BankFormat, BankProfile, Config};
use crate::domain::GrantStatus;
use crate::domain::card::mask_card;
use crate::domain::{BatchStatus, Fen};
use crate::exceptions::{ExceptionKind, NewException};
use crate::formats::{BatchDoc, Debtor, PaymentLine, domestic, pain001};
use crate::store::{AuditEntry, BatchLine, BatchRow, EligibleGrant, FileRecord, NewPayment, Store, StoreError, StoreTx};
use crate::transport::{self, TransportError};
use chrono::{DateTime, NaiveDate};
use serde::Serialize;

/// Grants read per step of the reserve loop.
const RESERVE_CHUNK: i64 = 2000;

/// What can stop a batch cycle.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no bank profile is configured ([banks.<name>] in the configuration)")]
    NoProfile,
    #[error("batch {batch}: bank profile '{profile}' is no longer configured")]
    ProfileGone { batch: String, profile: String },
    #[error("batch {batch}: {reason}")]
    Render { batch: String, reason: String },
    #[error("batch {batch}: the file in the outbox differs from the one recorded; not sent")]
    Tampered { batch: String },
    #[error("batch {batch}: delivery failed: {source}")]
    Deliver { batch: String, source: TransportError },
    #[error("batch {batch}: {source}")]
    Outbox { batch: String, source: TransportError },
    #[error("batch {batch}: its payments are not the ones a reviewer approved; not written (批次未经复核或复核后已改变)")]
    NotApproved { batch: String },
}

/// The SHA-256 of a batch's exact payment list (reference, amount, card, holder, bank and
/// remittance of every payment, in file order): what a reviewer's approval covers.
pub fn payload_hash(lines: &[BatchLine]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for l in lines {
        for field in [l.payment_ref.as_str(), &l.amount_fen.to_string(), &l.card_number, &l.card_holder, &l.bank, &l.remittance] {
            h.update(field.as_bytes());
            h.update([0x1f]);
        }
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// One batch in the cycle's summary (`batch --json`).
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub batch_id: String,
    pub profile: String,
    pub format: String,
    pub file: Option<String>,
    pub payments: i64,
    pub total: String,
    pub status: BatchStatus,
    pub bank_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one cycle did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CycleOutcome {
    pub payments_created: u64,
    pub unencodable: u64,
    pub waiting_for_notice: i64,
    /// Batches this cycle left (or made) waiting for a reviewer (four eyes).
    pub awaiting_approval: u64,
    pub batches: Vec<BatchSummary>,
}

/// Kills the process at a named step when `AIDPAY_CRASH_AT` says so: crash-safety tests use it
/// to stop the real binary exactly between two steps, as a power cut or `kill -9` would.
pub fn crash_point(name: &str) {
    if std::env::var("AIDPAY_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("AIDPAY_CRASH_AT={name}: killing the process");
        let _ = std::process::Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
        std::process::abort();
    }
}

/// Runs one batch cycle for the configured special account.
pub async fn run_cycle(store: &Store, cfg: &Config, actor: &str) -> Result<CycleOutcome, BatchError> {
    if cfg.banks.is_empty() {
        return Err(BatchError::NoProfile);
    }
    let mut outcome = reserve(store, cfg, actor).await?;
    crash_point("after_reserve");
    if outcome.payments_created >= crate::store::BULK_ROWS
        && let Err(e) = store.refresh_statistics(&["payments", "batches"]).await
    {
        tracing::warn!("planner statistics not refreshed after the reserve step: {e}");
    }

    let mut tx = store.begin().await?;
    let created = tx.batches_in(&cfg.account.number, &[BatchStatus::Created]).await?;
    tx.commit().await?;
    let progress = crate::progress::Progress::bar("写批次文件", "笔", created.iter().map(|b| b.nb_of_txs.max(0) as u64).sum());
    for b in created {
        if let Err(e) = write_file(store, cfg, &b, actor).await {
            tracing::error!(batch = %b.batch_id, "{e}");
            outcome.batches.push(summary(&b, Some(e.to_string())));
        }
        progress.inc(b.nb_of_txs.max(0) as u64);
    }
    drop(progress);

    // Batches whose hand-over a crash interrupted are decided first, then the new ones go out.
    let mut tx = store.begin().await?;
    let written = tx.batches_in(&cfg.account.number, &[BatchStatus::Delivering, BatchStatus::Written]).await?;
    tx.commit().await?;
    for b in written {
        match crate::delivery::deliver(store, cfg, &b, actor).await {
            Ok(done) => outcome.batches.push(summary(&done, None)),
            Err(e) => {
                tracing::error!(batch = %b.batch_id, "{e}");
                outcome.batches.push(summary(&b, Some(e.to_string())));
            }
        }
    }
    let mut tx = store.begin().await?;
    for b in tx.batches_in(&cfg.account.number, &[BatchStatus::Held, BatchStatus::InDoubt, BatchStatus::AwaitingApproval]).await? {
        outcome.batches.push(summary(&b, None));
    }
    tx.commit().await?;
    outcome.batches.sort_by(|a, b| a.batch_id.cmp(&b.batch_id));
    Ok(outcome)
}

fn summary(b: &BatchRow, error: Option<String>) -> BatchSummary {
    BatchSummary {
        batch_id: b.batch_id.clone(),
        profile: b.profile.clone(),
        format: b.format.clone(),
        file: b.file_name.clone(),
        payments: b.nb_of_txs,
        total: Fen(b.ctrl_sum_fen).to_string(),
        status: b.status,
        bank_ref: b.bank_ref.clone(),
        error,
    }
}

/// A payment line as the formats want it.
fn line_of(p: &BatchLine) -> PaymentLine {
    payment_line(&p.payment_ref, p.amount_fen, &p.card_number, &p.card_holder, &p.bank, &p.remittance)
}

fn payment_line(reference: &str, amount_fen: i64, card: &str, holder: &str, bank: &str, remittance: &str) -> PaymentLine {
    PaymentLine {
        end_to_end_id: reference.to_string(),
        amount: Fen(amount_fen),
        card_number: card.to_string(),
        holder: holder.to_string(),
        bank_name: bank.to_string(),
        cnaps: cnaps_of(bank),
        remittance: remittance.to_string(),
    }
}

/// A 开户银行 given as a 12-digit CNAPS code (联行号) is used as one.
fn cnaps_of(bank: &str) -> Option<String> {
    let b = bank.trim();
    (b.len() == 12 && b.chars().all(|c| c.is_ascii_digit())).then(|| b.to_string())
}

/// The payment for a grant (its reference still to be given): the bank profile by the card's
/// bank, the remittance text, and — for a domestic template — the check that the bank file can
/// carry the holder's name. `Ok(Err(..))` names the profile and the problem.
pub fn plan_payment(cfg: &Config, g: &EligibleGrant, attempt: i64) -> Result<Result<NewPayment, (String, domestic::LineProblem)>, BatchError> {
    let profile = cfg.profile_for_bank(&g.bank).ok_or(BatchError::NoProfile)?;
    let p = NewPayment {
        payment_ref: String::new(),
        grant_id: g.grant_id.clone(),
        attempt,
        profile: profile.name.clone(),
        amount_fen: g.amount_fen,
        card_number: g.card_number.clone(),
        card_holder: g.card_holder.clone(),
        bank: g.bank.clone(),
        remittance: profile.remittance_for(&g.period, &g.program),
        sealed: g.sealed.clone(),
    };
    if let BankFormat::Domestic(d) = &profile.format {
        // The reference is not given yet; one of the final length stands in for the check.
        let line = payment_line("AP000000000000", p.amount_fen, &p.card_number, &p.card_holder, &p.bank, &p.remittance);
        if let Err(problem) = domestic::check_line(d, &line) {
            return Ok(Err((profile.name.clone(), problem)));
        }
    }
    Ok(Ok(p))
}

/// Gives payments their end-to-end references (`AP` + 12 digits, unique in the store).
pub async fn assign_refs(tx: &mut StoreTx, payments: &mut [NewPayment]) -> Result<(), StoreError> {
    if payments.is_empty() {
        return Ok(());
    }
    let ids = tx.alloc_ids("payments", payments.len() as i64).await?;
    for (p, id) in payments.iter_mut().zip(ids.iter()) {
        p.payment_ref = format!("AP{id:012}");
    }
    Ok(())
}

/// Step 1: payments for eligible grants, grouped into batches; one transaction.
///
/// Payments left unbatched by earlier cycles (re-issues) are put into batches first. New
/// payments then wait in memory per bank profile and are inserted already in their batch once a
/// profile has a file's worth (`max_lines`), so each payment row is written once, not inserted
/// and then updated. Memory stays at most one file's worth per profile.
async fn reserve(store: &Store, cfg: &Config, actor: &str) -> Result<CycleOutcome, BatchError> {
    let account = cfg.account.number.as_str();
    let mut cutter = BatchCutter::new(cfg);
    let today_text = cutter.today.to_string();
    let mut outcome = CycleOutcome::default();
    let mut tx = store.begin().await?;
    // One reserve at a time per special account, whichever process runs it.
    tx.lock(&format!("reserve:{account}")).await?;
    outcome.waiting_for_notice = tx.count_waiting(account, &today_text).await?;

    // Re-issues and payments of earlier cycles not yet batched.
    for profile in &cfg.banks {
        loop {
            let refs = tx.unbatched_payments(account, &profile.name, profile.max_lines as i64).await?;
            if refs.is_empty() {
                break;
            }
            let batch = cutter.batch_row(&mut tx, profile, refs.len() as i64, refs.iter().map(|(_, a)| a).sum()).await?;
            let ids: Vec<String> = refs.into_iter().map(|(r, _)| r).collect();
            tx.insert_batch(&batch).await?;
            tx.put_in_batch(&batch.batch_id, &ids).await?;
            cutter.created.push(batch);
        }
    }

    // Cards in clear only where a domestic template must check them (see `eligible_grants`).
    let open = cfg.banks.iter().any(|b| matches!(b.format, BankFormat::Domestic(_)));
    let mut after = String::new();
    loop {
        let (chunk, last) = tx.eligible_grants(account, &today_text, &after, RESERVE_CHUNK, open).await?;
        let Some(last) = last else { break };
        after = last;
        let mut held = Vec::new();
        let mut raised = Vec::new();
        for g in &chunk {
            match plan_payment(cfg, g, g.attempt)? {
                Ok(p) => {
                    outcome.payments_created += 1;
                    cutter.add(&mut tx, p).await?;
                }
                Err((profile, problem)) => {
                    held.push(g.grant_id.clone());
                    raised.push(
                        NewException::new(
                            ExceptionKind::UnencodableName,
                            &g.grant_id,
                            format!("银行 {profile} 的代发文件无法写入: {problem}（卡号 {}）", mask_card(&g.card_number)),
                        )
                        .grant(g.grant_id.clone())
                        .amount(Some(g.amount_fen)),
                    );
                }
            }
        }
        outcome.unencodable += held.len() as u64;
        tx.set_grants_status(&held, GrantStatus::Held, &[]).await?;
        tx.insert_exceptions(&raised).await?;
    }
    cutter.finish(&mut tx).await?;

    if cfg.approval.batches {
        // Four eyes: new batches wait for a reviewer, each with its payment list's hash; so does
        // any batch still to be written without an approval (made before approval was on).
        let mut waiting: Vec<String> = cutter.created.iter().map(|b| b.batch_id.clone()).collect();
        for b in tx.batches_in(account, &[BatchStatus::Created, BatchStatus::Held]).await? {
            if tx.approved_for(&b.batch_id).await?.is_none() {
                tx.set_batch_status(&b.batch_id, BatchStatus::AwaitingApproval).await?;
                waiting.push(b.batch_id);
            }
        }
        waiting.sort();
        waiting.dedup();
        crate::approvals::propose_batches(&mut tx, &waiting, actor).await?;
        outcome.awaiting_approval = waiting.len() as u64;
    }
    check_balance(&mut tx, account).await?;
    for b in &cutter.created {
        tx.audit(&AuditEntry {
            actor,
            action: "batch.create",
            subject: &b.batch_id,
            before: None,
            after: Some(serde_json::json!({"profile": b.profile, "payments": b.nb_of_txs, "total": Fen(b.ctrl_sum_fen).to_string()})),
        })
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Collects new payments per bank profile and cuts a batch whenever a profile has `max_lines`.
struct BatchCutter<'a> {
    cfg: &'a Config,
    /// Payments waiting for their batch, per profile (in `cfg.banks` order).
    pending: Vec<Vec<NewPayment>>,
    /// The batches made so far in this cycle.
    created: Vec<BatchRow>,
    /// One execution date and creation time for every batch of the cycle.
    today: NaiveDate,
    created_at: String,
}

impl<'a> BatchCutter<'a> {
    fn new(cfg: &'a Config) -> Self {
        BatchCutter {
            cfg,
            pending: vec![Vec::new(); cfg.banks.len()],
            created: Vec::new(),
            today: crate::clock::today(),
            created_at: crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        }
    }

    async fn add(&mut self, tx: &mut StoreTx, p: NewPayment) -> Result<(), BatchError> {
        let i = self.cfg.banks.iter().position(|b| b.name == p.profile).ok_or(BatchError::NoProfile)?;
        self.pending[i].push(p);
        if self.pending[i].len() >= self.cfg.banks[i].max_lines {
            self.cut(tx, i).await?;
        }
        Ok(())
    }

    /// Cuts the last, partly filled batch of every profile.
    async fn finish(&mut self, tx: &mut StoreTx) -> Result<(), BatchError> {
        for i in 0..self.pending.len() {
            self.cut(tx, i).await?;
        }
        Ok(())
    }

    /// One batch from a profile's waiting payments: references given in order, the batch row,
    /// then the payments inserted already in it.
    async fn cut(&mut self, tx: &mut StoreTx, i: usize) -> Result<(), BatchError> {
        let mut payments = std::mem::take(&mut self.pending[i]);
        if payments.is_empty() {
            return Ok(());
        }
        let profile = &self.cfg.banks[i];
        assign_refs(tx, &mut payments).await?;
        let batch = self.batch_row(tx, profile, payments.len() as i64, payments.iter().map(|p| p.amount_fen).sum()).await?;
        tx.insert_batch(&batch).await?;
        tx.insert_payments(&self.cfg.account.number, Some(&batch.batch_id), &payments).await?;
        self.created.push(batch);
        Ok(())
    }

    /// A new batch of a profile, numbered `B<date><seq>`.
    async fn batch_row(&self, tx: &mut StoreTx, profile: &BankProfile, nb_of_txs: i64, ctrl_sum_fen: i64) -> Result<BatchRow, BatchError> {
        let seq = tx.alloc_id("batches").await?;
        Ok(BatchRow {
            batch_id: format!("B{}{:06}", self.today.format("%Y%m%d"), seq),
            account_no: self.cfg.account.number.clone(),
            profile: profile.name.clone(),
            execution_date: self.today.to_string(),
            format: profile.format.name().to_string(),
            nb_of_txs,
            ctrl_sum_fen,
            status: BatchStatus::Created,
            file_name: None,
            file_id: None,
            bank_ref: None,
            created_at: self.created_at.clone(),
        })
    }
}

/// Holds batches the known balance cannot cover and releases held ones it now can, oldest first.
async fn check_balance(tx: &mut StoreTx, account: &str) -> Result<(), StoreError> {
    let Some(balance) = tx.latest_balance(account).await? else {
        // No statement yet: nothing known to check against. Release anything held earlier.
        for b in tx.batches_in(account, &[BatchStatus::Held]).await? {
            tx.set_batch_status(&b.batch_id, BatchStatus::Created).await?;
        }
        return Ok(());
    };
    let mut committed = tx.committed_not_debited(account).await?;
    let mut raised = Vec::new();
    for b in tx.batches_in(account, &[BatchStatus::Held, BatchStatus::Created]).await? {
        let available = balance - committed;
        if b.ctrl_sum_fen > available {
            if b.status != BatchStatus::Held {
                tx.set_batch_status(&b.batch_id, BatchStatus::Held).await?;
            }
            raised.push(
                NewException::new(
                    ExceptionKind::InsufficientBalance,
                    &b.batch_id,
                    format!("批次 {}（{} 笔，{} 元）超过专户可用余额 {} 元，暂缓发送", b.batch_id, b.nb_of_txs, Fen(b.ctrl_sum_fen), Fen(available)),
                )
                .reason(Some("AM04".into()))
                .amount(Some(b.ctrl_sum_fen)),
            );
        } else {
            if b.status == BatchStatus::Held {
                tx.set_batch_status(&b.batch_id, BatchStatus::Created).await?;
            }
            committed += b.ctrl_sum_fen;
        }
    }
    tx.insert_exceptions(&raised).await?;
    Ok(())
}

/// Renders a stored batch to bytes; the same batch always gives the same bytes.
pub async fn render(tx: &mut StoreTx, cfg: &Config, b: &BatchRow) -> Result<(String, Vec<u8>, &'static str), BatchError> {
    let profile = profile_of(cfg, b)?;
    let payments = tx.batch_lines(&b.batch_id).await?;
    let render_err = |reason: String| BatchError::Render { batch: b.batch_id.clone(), reason };
    let doc = BatchDoc {
        batch_id: b.batch_id.clone(),
        created_at: DateTime::parse_from_rfc3339(&b.created_at).map_err(|e| render_err(e.to_string()))?,
        execution_date: NaiveDate::parse_from_str(&b.execution_date, "%Y-%m-%d").map_err(|e| render_err(e.to_string()))?,
        debtor: Debtor {
            account_no: cfg.account.number.clone(),
            name: cfg.account.name.clone(),
            bank_name: cfg.account.bank.clone(),
            cnaps: cfg.account.cnaps.clone(),
        },
        payments: payments.iter().map(line_of).collect(),
    };
    let mut bytes = Vec::with_capacity(doc.payments.len() * 400 + 1024);
    let (name, kind) = match &profile.format {
        BankFormat::Pain001(v) => {
            pain001::write(&doc, *v, &mut bytes).map_err(|e| render_err(e.to_string()))?;
            (format!("{}.xml", b.batch_id), "pain001")
        }
        BankFormat::Domestic(d) => {
            domestic::write(&doc, d, &mut bytes).map_err(|e| render_err(e.to_string()))?;
            (domestic::file_name(d, &doc), "domestic")
        }
    };
    Ok((name, bytes, kind))
}

fn profile_of<'a>(cfg: &'a Config, b: &BatchRow) -> Result<&'a BankProfile, BatchError> {
    cfg.bank(&b.profile).ok_or_else(|| BatchError::ProfileGone { batch: b.batch_id.clone(), profile: b.profile.clone() })
}

/// Step 2: the batch's file into the outbox, its hash into the store.
async fn write_file(store: &Store, cfg: &Config, b: &BatchRow, actor: &str) -> Result<(), BatchError> {
    let mut tx = store.begin().await?;
    // Another process may have written it since we listed it.
    tx.lock(&format!("batch:{}", b.batch_id)).await?;
    if tx.batches_in_any(&b.batch_id).await?.is_none_or(|now| now.status != BatchStatus::Created) {
        return Ok(());
    }
    // Four eyes: what is written is what a reviewer approved, payment for payment.
    if cfg.approval.batches {
        let approved = tx.approved_for(&b.batch_id).await?;
        let now = payload_hash(&tx.batch_lines(&b.batch_id).await?);
        if approved.as_ref().and_then(|a| a.payload_sha256.as_deref()) != Some(now.as_str()) {
            return Err(BatchError::NotApproved { batch: b.batch_id.clone() });
        }
    }
    let (name, bytes, kind) = render(&mut tx, cfg, b).await?;
    // Atomic and idempotent: after a crash the same bytes are found in place.
    transport::deliver(&cfg.paths.outbox, &name, &bytes).map_err(|source| BatchError::Outbox { batch: b.batch_id.clone(), source })?;
    crash_point("after_file_written");
    let sha = crate::files::sha256_hex(&bytes);
    let file_id = tx
        .record_file(&FileRecord {
            direction: "out",
            kind,
            name: &name,
            sha256: &sha,
            size_bytes: bytes.len() as i64,
            status: crate::domain::FileStatus::Written,
            detail: Some(&b.batch_id),
        })
        .await?
        .id;
    tx.mark_batch_written(&b.batch_id, file_id, &name).await?;
    tx.audit(&AuditEntry {
        actor,
        action: "batch.write",
        subject: &b.batch_id,
        before: None,
        after: Some(serde_json::json!({"file": name, "sha256": sha, "bytes": bytes.len()})),
    })
    .await?;
    tx.commit().await?;
    tracing::info!(batch = %b.batch_id, file = %name, bytes = bytes.len(), "batch file written to the outbox (not yet handed to the bank)");
    crash_point("after_written");
    Ok(())
}
