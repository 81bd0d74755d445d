//! The hand-over of a batch file to the bank: the commit point of every payment in it.
//!
//! From the instant a bank's front-end machine (前置机) can see the file in its drop folder, or the
//! gateway (银企直连) has acknowledged the upload, the bank may pay it — and a front-end takes the
//! file *away* as soon as it appears. So "the file is not in the folder" proves nothing about
//! whether the bank has it, and writing it again pays every student twice. The hand-over is
//! therefore recorded as an **intent** before it can happen and as an **outcome** after, and a batch
//! whose file may have reached the bank is never handed over again without proof that the bank
//! does not have it.
//!
//! ## Drop folder
//! 1. **stage**: the outbox copy (checked against its recorded SHA-256) is written into the drop
//!    folder under a hidden name (`.<name>.<token>.part`, synced, 0600). A pickup ignores it.
//! 2. **intent** (one commit): the batch goes `written` → `delivering` with the staged name and the
//!    hash. Only one process wins this claim; a loser removes its own staged file.
//! 3. **hand over**: the staged file is renamed to its final name and the folder synced. The rename
//!    is atomic and moves the only staged copy, so whoever does it, it happens at most once.
//! 4. **outcome** (one commit): `delivering` → `delivered`, the payments `sent`.
//!
//! A batch found `delivering` (a crash, or another process in the middle) is decided from what is
//! observable: the staged file still there with the recorded bytes → the rename did not happen:
//! finish it; the final file there with the recorded bytes → handed over, not yet taken:
//! delivered; neither → handed over and taken by the front-end: delivered. Anything else (other
//! bytes under either name, both names at once) cannot be decided: the batch is `in_doubt` with a
//! high-severity `delivery_uncertain` exception, and a person checks with the bank (`--accept`:
//! the bank has it; `--reissue`: the bank confirmed it has not, hand it over again).
//!
//! ## Gateway
//! 1. **intent** (one commit): `written` → `delivering`.
//! 2. **hand over**: the upload, with the batch id as idempotency key (retried with backoff; the
//!    bank stores one batch per key). No transaction is open during it.
//! 3. **outcome**: the receipt → `delivered`; a refusal (4xx: nothing stored) → `written` again; no
//!    answer → still `delivering`.
//!
//! A batch found `delivering` is decided by asking the bank what it holds under the key
//! (`GET /batches/{key}`): a receipt → delivered; "nothing" (404) is the proof that it does not
//! have it, and the upload is made (with the same key); no answer → still undecided, asked again by
//! the next cycle (its payments surface as `no_answer` if that goes on).

use crate::batch::{BatchError, crash_point, render};
use crate::config::{BankProfile, Config, Transport};
use crate::domain::BatchStatus;
use crate::domain::Fen;
use crate::exceptions::{ExceptionKind, NewException};
use crate::store::{AuditEntry, BatchRow, DeliveryIntent, DeliveryRecord, Store, StoreError};
use crate::transport::dropfolder::{self, HandedOver, Observed};
use crate::files::sha256_hex;
use crate::transport::{GatewayClient, TransportError};

/// Hands over a `written` batch, or decides a `delivering` one; returns the batch as it is now
/// (`delivered`, `in_doubt`, or unchanged when nothing could be done yet).
pub async fn deliver(store: &Store, cfg: &Config, b: &BatchRow, actor: &str) -> Result<BatchRow, BatchError> {
    let profile = cfg.bank(&b.profile).ok_or_else(|| BatchError::ProfileGone { batch: b.batch_id.clone(), profile: b.profile.clone() })?;
    match b.status {
        BatchStatus::Written => start(store, cfg, profile, b, actor).await,
        BatchStatus::Delivering => recover(store, cfg, profile, b, actor).await,
        _ => Ok(b.clone()),
    }
}

/// The bytes recorded for a written batch: the outbox copy, checked against its recorded hash
/// (rendered again from the store when the copy is gone: rendering gives the same bytes).
async fn recorded_bytes(store: &Store, cfg: &Config, b: &BatchRow) -> Result<(String, Vec<u8>, String), BatchError> {
    // The file is read before the transaction: no write lock is held across I/O.
    let copy = b.file_name.as_ref().and_then(|n| std::fs::read(cfg.paths.outbox.join(n)).ok().map(|bytes| (n.clone(), bytes)));
    let mut tx = store.begin().await?;
    let (name, bytes) = match copy {
        Some(c) => c,
        None => {
            let (name, bytes, _) = render(&mut tx, cfg, b).await?;
            (name, bytes)
        }
    };
    let recorded = match b.file_id {
        Some(id) => tx.file_sha256(id).await?,
        None => None,
    };
    tx.commit().await?;
    let sha = sha256_hex(&bytes);
    // What goes to the bank is exactly what was recorded, or nothing.
    if recorded.as_deref() != Some(sha.as_str()) {
        return Err(BatchError::Tampered { batch: b.batch_id.clone() });
    }
    Ok((name, bytes, sha))
}

async fn start(store: &Store, cfg: &Config, profile: &BankProfile, b: &BatchRow, actor: &str) -> Result<BatchRow, BatchError> {
    let (name, bytes, sha) = recorded_bytes(store, cfg, b).await?;
    let deliver_err = |source| BatchError::Deliver { batch: b.batch_id.clone(), source };
    let mut intent = DeliveryIntent {
        batch_id: b.batch_id.clone(),
        transport: String::new(),
        target: String::new(),
        file_name: name.clone(),
        staged_name: None,
        sha256: sha,
        actor: actor.to_string(),
    };
    match &profile.transport {
        Transport::DropFolder(dir) => {
            let staged = dropfolder::stage(dir, &name, &bytes).map_err(deliver_err)?;
            crash_point("after_staged");
            intent.transport = "dropfolder".into();
            intent.target = dir.display().to_string();
            intent.staged_name = Some(staged.clone());
            if !claim(store, &intent).await? {
                let _ = std::fs::remove_file(dir.join(&staged));
                return current(store, b).await;
            }
            crash_point("before_handover");
            match dropfolder::hand_over(dir, &staged, &name) {
                Ok(HandedOver::Now) => {
                    crash_point("after_deliver");
                    finish(store, b, None, "已移入银行投递目录", actor).await
                }
                // Someone else finished this hand-over (a recovery in another process).
                Ok(HandedOver::StagedGone) => recover(store, cfg, profile, &current(store, b).await?, actor).await,
                // The rename did not happen: the staged file is still there, and a later cycle
                // decides it from what it sees.
                Err(e) => Err(deliver_err(e)),
            }
        }
        Transport::Gateway(settings) => {
            intent.transport = "gateway".into();
            intent.target = profile.name.clone();
            let client = GatewayClient::new(settings.clone()).map_err(deliver_err)?;
            if !claim(store, &intent).await? {
                return current(store, b).await;
            }
            crash_point("before_handover");
            upload(store, &client, b, &name, &bytes, actor).await
        }
    }
}

/// The upload and its outcome (the batch is `delivering`).
async fn upload(store: &Store, client: &GatewayClient, b: &BatchRow, name: &str, bytes: &[u8], actor: &str) -> Result<BatchRow, BatchError> {
    match client.upload(&b.batch_id, name, bytes).await {
        Ok(receipt) => {
            crash_point("after_deliver");
            let how = if receipt.duplicate { "银行网关确认已有该批次（重复上传）" } else { "银行网关已接收" };
            finish(store, b, Some(&receipt.bank_batch_id), how, actor).await
        }
        Err(e @ TransportError::Rejected { .. }) => {
            // A refusal stores nothing at the bank: the batch may be handed over again later.
            let mut tx = store.begin().await?;
            tx.release_delivery(&b.batch_id, &e.to_string()).await?;
            tx.commit().await?;
            Err(BatchError::Deliver { batch: b.batch_id.clone(), source: e })
        }
        // No answer: the bank may have it. It stays `delivering`, to be asked next cycle.
        Err(e) => Err(BatchError::Deliver { batch: b.batch_id.clone(), source: e }),
    }
}

/// Decides a `delivering` batch from what can be observed (see the module doc).
async fn recover(store: &Store, cfg: &Config, profile: &BankProfile, b: &BatchRow, actor: &str) -> Result<BatchRow, BatchError> {
    if b.status != BatchStatus::Delivering {
        return Ok(b.clone());
    }
    let deliver_err = |source| BatchError::Deliver { batch: b.batch_id.clone(), source };
    let record = {
        let mut tx = store.begin().await?;
        let r = tx.delivery_of(&b.batch_id).await?;
        tx.commit().await?;
        r
    };
    let Some(DeliveryRecord { intent, .. }) = record else {
        // A batch marked delivering with no intent cannot be decided.
        return doubt(store, b, "没有交付意向记录", actor).await;
    };
    match &profile.transport {
        Transport::DropFolder(dir) => {
            let Some(staged) = intent.staged_name.as_deref() else {
                return doubt(store, b, "交付意向记录缺少暂存文件名", actor).await;
            };
            match dropfolder::observe(dir, staged, &intent.file_name, &intent.sha256).map_err(deliver_err)? {
                Observed::Staged => match dropfolder::hand_over(dir, staged, &intent.file_name).map_err(deliver_err)? {
                    HandedOver::Now => finish(store, b, None, "中断后完成移入银行投递目录", actor).await,
                    // Renamed by someone else meanwhile: look again.
                    HandedOver::StagedGone => Box::pin(recover(store, cfg, profile, b, actor)).await,
                },
                Observed::Waiting => finish(store, b, None, "文件已在银行投递目录中，等待前置机取走", actor).await,
                Observed::Taken => finish(store, b, None, "文件已被银行前置机取走", actor).await,
                Observed::Unclear(why) => doubt(store, b, &why, actor).await,
            }
        }
        Transport::Gateway(settings) => {
            let client = GatewayClient::new(settings.clone()).map_err(deliver_err)?;
            match client.lookup(&b.batch_id).await.map_err(deliver_err)? {
                Some(receipt) => finish(store, b, Some(&receipt.bank_batch_id), "银行网关确认已收到该批次", actor).await,
                None => {
                    // The bank says it holds nothing under this key: proof that it does not have
                    // the batch. Upload it (same key, so a lost answer stays one batch).
                    let (name, bytes, _) = recorded_bytes(store, cfg, b).await?;
                    upload(store, &client, b, &name, &bytes, actor).await
                }
            }
        }
    }
}

async fn claim(store: &Store, intent: &DeliveryIntent) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let claimed = tx.claim_delivery(intent).await?;
    if claimed {
        tx.audit(&AuditEntry {
            actor: &intent.actor,
            action: "batch.deliver.intent",
            subject: &intent.batch_id,
            before: Some(serde_json::json!({"status": BatchStatus::Written})),
            after: Some(serde_json::json!({
                "status": BatchStatus::Delivering, "transport": intent.transport, "target": intent.target,
                "file": intent.file_name, "staged": intent.staged_name, "sha256": intent.sha256,
            })),
        })
        .await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

async fn finish(store: &Store, b: &BatchRow, bank_ref: Option<&str>, how: &str, actor: &str) -> Result<BatchRow, BatchError> {
    let mut tx = store.begin().await?;
    if tx.finish_delivery(&b.batch_id, bank_ref, how).await? {
        tx.audit(&AuditEntry {
            actor,
            action: "batch.deliver",
            subject: &b.batch_id,
            before: Some(serde_json::json!({"status": BatchStatus::Delivering})),
            after: Some(serde_json::json!({"status": BatchStatus::Delivered, "file": b.file_name, "profile": b.profile, "bank_ref": bank_ref, "observed": how})),
        })
        .await?;
        tracing::info!(batch = %b.batch_id, profile = %b.profile, payments = b.nb_of_txs, total = %Fen(b.ctrl_sum_fen), "batch delivered: {how}");
    }
    tx.commit().await?;
    current(store, b).await
}

async fn doubt(store: &Store, b: &BatchRow, why: &str, actor: &str) -> Result<BatchRow, BatchError> {
    let mut tx = store.begin().await?;
    tx.doubt_delivery(&b.batch_id, why).await?;
    tx.insert_exceptions(&[NewException::new(
        ExceptionKind::DeliveryUncertain,
        &b.batch_id,
        format!(
            "批次 {}（{} 笔，{} 元，银行 {}，文件 {}）中断后无法确定银行是否已收到: {why}；已停止自动发送，请与银行核实",
            b.batch_id,
            b.nb_of_txs,
            Fen(b.ctrl_sum_fen),
            b.profile,
            b.file_name.as_deref().unwrap_or("-")
        ),
    )
    .amount(Some(b.ctrl_sum_fen))])
        .await?;
    tx.audit(&AuditEntry {
        actor,
        action: "batch.deliver.in_doubt",
        subject: &b.batch_id,
        before: Some(serde_json::json!({"status": BatchStatus::Delivering})),
        after: Some(serde_json::json!({"status": BatchStatus::InDoubt, "observed": why})),
    })
    .await?;
    tx.commit().await?;
    tracing::error!(batch = %b.batch_id, "delivery in doubt, not sent again without a person: {why}");
    current(store, b).await
}

/// The batch as the store has it now.
async fn current(store: &Store, b: &BatchRow) -> Result<BatchRow, BatchError> {
    let mut tx = store.begin().await?;
    let now = tx.batches_in_any(&b.batch_id).await?;
    tx.commit().await?;
    Ok(now.unwrap_or_else(|| b.clone()))
}
