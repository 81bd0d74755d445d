//! Payments (attempts to pay a grant) and the batches that carry them to the bank.
//!
//! The partial unique index `payments_one_live_per_grant` makes "never pay twice" a property of
//! the database: whatever the code does, a grant cannot have two live attempts.

use super::bulk::{Bulk, Col};
use super::{ByKeys, MAX_BINDS, Store, StoreError, StoreTx, built, in_chunks, now_text, or_fail, state, state_list};
use crate::crypto::{self, purpose};
use crate::domain::{BatchStatus, GrantStatus, PaymentStatus};
use sqlx::Row;
use std::collections::HashMap;

/// A valid grant whose notice has ended and that has never had a payment (but cancelled ones,
/// of a batch a reviewer rejected).
#[derive(Debug, Clone)]
pub struct EligibleGrant {
    pub grant_id: String,
    /// The number its next payment attempt gets (1, or after cancelled ones the next).
    pub attempt: i64,
    pub amount_fen: i64,
    /// The card and holder in clear; empty when the batch step asked for them sealed only
    /// ([`StoreTx::eligible_grants`] with `open` false) and `sealed` carries them.
    pub card_number: String,
    pub card_holder: String,
    pub bank: String,
    pub period: String,
    pub program: String,
    /// The card and holder as the grant row stores them, when they can go into the payment row
    /// as they are (see [`SealedCard`]); `None` for a card given in clear (a correction).
    pub sealed: Option<SealedCard>,
}

/// A card number and holder name as stored — sealed under the current data key — with the
/// card's look-up hash: what a payment row copies from its grant row. A payment row seals them
/// for the same purposes as the grant row, so the grant's ciphertext is a valid payment value;
/// copying it saves two encryptions and a hash per payment (a million at a province's term).
/// Only the store makes one ([`StoreTx::eligible_grants`]), and only from values already under
/// the current key version: a clear value of a store not yet encrypted in place, or one under
/// an older key, is sealed afresh.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedCard {
    card_number: String,
    card_holder: String,
    card_hash: String,
}

/// A payment to create.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub payment_ref: String,
    pub grant_id: String,
    pub attempt: i64,
    pub profile: String,
    pub amount_fen: i64,
    pub card_number: String,
    pub card_holder: String,
    pub bank: String,
    pub remittance: String,
    /// The grant's stored card and holder, copied as they are (else sealed from the clear ones).
    pub sealed: Option<SealedCard>,
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRow {
    pub payment_ref: String,
    pub grant_id: String,
    pub attempt: i64,
    pub profile: String,
    pub batch_id: Option<String>,
    pub amount_fen: i64,
    pub card_number: String,
    pub card_holder: String,
    pub bank: String,
    pub remittance: String,
    pub status: PaymentStatus,
}

/// One payment as its batch file carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchLine {
    pub payment_ref: String,
    pub amount_fen: i64,
    pub card_number: String,
    pub card_holder: String,
    pub bank: String,
    pub remittance: String,
}

/// A batch as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    pub batch_id: String,
    pub account_no: String,
    pub profile: String,
    pub execution_date: String,
    pub format: String,
    pub nb_of_txs: i64,
    pub ctrl_sum_fen: i64,
    pub status: BatchStatus,
    pub file_name: Option<String>,
    pub file_id: Option<i64>,
    pub bank_ref: Option<String>,
    pub created_at: String,
}

const PAYMENT_COLS: usize = 17;

/// A payment row's insert: its columns, and their types in that order.
const PAYMENTS_HEAD: &str = "INSERT INTO payments (payment_ref, grant_id, attempt, account_no, profile, batch_id, amount_fen, card_number, \
     card_holder, bank, remittance, status, money_out, live, created_at, updated_at, card_hash)";
const PAYMENT_TYPES: [Col; PAYMENT_COLS] = {
    let mut t = [Col::Text; PAYMENT_COLS];
    // attempt, amount_fen, money_out, live
    t[2] = Col::BigInt;
    t[6] = Col::BigInt;
    t[12] = Col::BigInt;
    t[13] = Col::BigInt;
    t
};
const PAYMENT_SELECT: &str = "SELECT payment_ref, grant_id, attempt, profile, batch_id, amount_fen, card_number, card_holder, bank, \
     remittance, status FROM payments";
pub(super) const BATCH_SELECT: &str = "SELECT batch_id, account_no, profile, execution_date, format, nb_of_txs, ctrl_sum_fen, status, file_name, \
     file_id, bank_ref, created_at FROM batches";

fn payment_row(keys: Option<&crate::crypto::KeyRing>, r: &sqlx::any::AnyRow) -> Result<PaymentRow, StoreError> {
    use super::keys::unseal;
    Ok(PaymentRow {
        payment_ref: r.try_get("payment_ref")?,
        grant_id: r.try_get("grant_id")?,
        attempt: r.try_get("attempt")?,
        profile: r.try_get("profile")?,
        batch_id: r.try_get("batch_id")?,
        amount_fen: r.try_get("amount_fen")?,
        card_number: unseal(keys, purpose::CARD_NUMBER, r.try_get("card_number")?)?,
        card_holder: unseal(keys, purpose::CARD_HOLDER, r.try_get("card_holder")?)?,
        bank: r.try_get("bank")?,
        remittance: r.try_get("remittance")?,
        status: state(r, "status")?,
    })
}

pub(super) fn batch_row(r: &sqlx::any::AnyRow) -> Result<BatchRow, StoreError> {
    Ok(BatchRow {
        batch_id: r.try_get("batch_id")?,
        account_no: r.try_get("account_no")?,
        profile: r.try_get("profile")?,
        execution_date: r.try_get("execution_date")?,
        format: r.try_get("format")?,
        nb_of_txs: r.try_get("nb_of_txs")?,
        ctrl_sum_fen: r.try_get("ctrl_sum_fen")?,
        status: state(r, "status")?,
        file_name: r.try_get("file_name")?,
        file_id: r.try_get("file_id")?,
        bank_ref: r.try_get("bank_ref")?,
        created_at: r.try_get("created_at")?,
    })
}

/// The payments of grants, for [`StoreTx::eligible_grants`].
pub(crate) const ATTEMPTS_OF_GRANTS: ByKeys =
    ByKeys { cols: "grant_id, attempt, status", from: "payments", account: "account_no", also: "", key: "grant_id", prefix_index: None };

impl StoreTx {
    /// The next grants after `after` (by grant id) that may be paid now: valid, notice ended
    /// before `today`, never paid or attempted. Re-issues come as payments, not from here.
    ///
    /// Looks at up to `limit` valid grants and returns those without a payment, with the last
    /// grant id looked at (`None` once there are no more). Three plain statements — a range of
    /// the valid states (`grant_states_status`), those grants by grant id, then their payments
    /// by grant id — instead of joins and one `NOT EXISTS`: PostgreSQL may plan that as a hash
    /// anti-join reading every payment, for every chunk, which made a province's term quadratic.
    ///
    /// `open`: whether the batch needs each card and holder in clear (a domestic template checks
    /// that the file can carry them). Without, a grant whose sealed card the payment row can copy
    /// comes with that only: the file is written from the payment rows, which open it then, so
    /// each card is decrypted once per payment, not twice (30 % of the batch step's CPU was
    /// decrypting).
    pub async fn eligible_grants(
        &mut self,
        account: &str,
        today: &str,
        after: &str,
        limit: i64,
        open: bool,
    ) -> Result<(Vec<EligibleGrant>, Option<String>), StoreError> {
        let valid: Vec<String> = sqlx::query(
            "SELECT grant_id FROM grant_states WHERE account_no = $1 AND status = 'valid' AND grant_id > $2 ORDER BY grant_id LIMIT $3",
        )
        .bind(account)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(|r| r.try_get("grant_id"))
        .collect::<Result<_, _>>()?;
        let Some(looked_at) = valid.last().cloned() else {
            return Ok((Vec::new(), None));
        };
        let mut rows = self.by_keys(&super::grants::GRANTS_TO_PAY, account, &valid).await?;
        rows.retain(|r| r.try_get::<String, _>("notice_end").is_ok_and(|end| end.as_str() < today));
        let mut grants: Vec<EligibleGrant> = rows
            .iter()
            .map(|r| {
                let (card, holder): (String, String) = (r.try_get("card_number")?, r.try_get("card_holder")?);
                let card_hash: Option<String> = r.try_get("card_hash")?;
                let current = |v: &str| self.keys.as_deref().is_some_and(|k| crypto::is_encrypted(v) && !k.needs_reencrypt(v));
                let sealed = match card_hash {
                    Some(card_hash) if current(&card) && current(&holder) => {
                        Some(SealedCard { card_number: card.clone(), card_holder: holder.clone(), card_hash })
                    }
                    _ => None,
                };
                let (card_number, card_holder) = match &sealed {
                    Some(_) if !open => (String::new(), String::new()),
                    _ => (self.unseal(purpose::CARD_NUMBER, card)?, self.unseal(purpose::CARD_HOLDER, holder)?),
                };
                Ok(EligibleGrant {
                    grant_id: r.try_get("grant_id")?,
                    attempt: 1,
                    amount_fen: r.try_get("amount_fen")?,
                    card_number,
                    card_holder,
                    bank: r.try_get("bank")?,
                    period: r.try_get("period")?,
                    program: r.try_get("program")?,
                    sealed,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
        let ids: Vec<&str> = grants.iter().map(|g| g.grant_id.as_str()).collect();
        // Per grant with payments: the last attempt number, and whether any is more than a
        // cancelled one (then re-issues come as payments, not from here). Counted here, not by
        // a `GROUP BY`: a grant has a payment or two, and the look-up stays one index probe
        // per grant on PostgreSQL (`ByKeys`).
        let mut attempts: HashMap<String, (i64, i64)> = HashMap::new();
        for r in self.by_keys(&ATTEMPTS_OF_GRANTS, account, &ids).await? {
            let (last, real) = attempts.entry(r.try_get::<String, _>("grant_id")?).or_insert((0, 0));
            *last = (*last).max(r.try_get("attempt")?);
            if state::<PaymentStatus, _>(&r, "status")? != PaymentStatus::Cancelled {
                *real += 1;
            }
        }
        let eligible = grants
            .into_iter()
            .filter_map(|mut g| match attempts.get(&g.grant_id) {
                None => Some(g),
                Some((_, real)) if *real > 0 => None,
                Some((last, _)) => {
                    g.attempt = last + 1;
                    Some(g)
                }
            })
            .collect();
        Ok((eligible, Some(looked_at)))
    }

    /// Valid grants still waiting for their notice to end.
    pub async fn count_waiting(&mut self, account: &str, today: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            concat!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM ",
                super::grants::grants_with_state!(),
                " WHERE s.account_no = $1 AND s.status = 'valid' AND g.notice_end >= $2 \
                 AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_no = g.account_no AND p.grant_id = g.grant_id AND p.status <> 'cancelled')"
            ),
        )
        .bind(account)
        .bind(today)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Creates payments (status `created`), already in a batch or (`None`) waiting for one.
    pub async fn insert_payments(&mut self, account: &str, batch_id: Option<&str>, list: &[NewPayment]) -> Result<(), StoreError> {
        let now = now_text();
        for chunk in list.chunks(MAX_BINDS / PAYMENT_COLS) {
            if chunk.is_empty() {
                continue;
            }
            let mut q = Bulk::new(self.backend, PAYMENTS_HEAD, &PAYMENT_TYPES, chunk.len(), "");
            for p in chunk {
                let (card, holder, card_hash) = match &p.sealed {
                    Some(s) => (s.card_number.clone(), s.card_holder.clone(), s.card_hash.clone()),
                    None if p.card_number.is_empty() => {
                        return Err(StoreError::Invalid(format!("资助 {} 的支付 {} 没有收款卡号（内部错误）: payment without a card", p.grant_id, p.payment_ref)));
                    }
                    None => (
                        self.seal(purpose::CARD_NUMBER, &p.card_number)?,
                        self.seal(purpose::CARD_HOLDER, &p.card_holder)?,
                        self.lookup(purpose::CARD_NUMBER, &p.card_number)?,
                    ),
                };
                q = q
                    .bind(p.payment_ref.clone())
                    .bind(p.grant_id.clone())
                    .bind(p.attempt)
                    .bind(account.to_string())
                    .bind(p.profile.clone())
                    .bind(batch_id.map(str::to_string))
                    .bind(p.amount_fen)
                    .bind(card)
                    .bind(holder)
                    .bind(p.bank.clone())
                    .bind(p.remittance.clone())
                    .bind("created")
                    .bind(0i64)
                    .bind(1i64)
                    .bind(now.clone())
                    .bind(now.clone())
                    .bind(card_hash);
            }
            q.query().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Sets the status of this account's grants (e.g. `held` when a bank cannot carry the
    /// holder's name); with `from`, only grants now in one of those states change.
    pub async fn set_grants_status(&mut self, ids: &[String], status: GrantStatus, from: &[GrantStatus]) -> Result<(), StoreError> {
        let from_sql = if from.is_empty() { String::new() } else { format!(" AND status IN ({})", state_list(from)) };
        for (chunk, list) in in_chunks(self.backend, ids, MAX_BINDS / 2, 4) {
            let sql = or_fail(self.backend, &format!("UPDATE grant_states SET status = $1, updated_at = $2 WHERE account_no = $3{from_sql} AND grant_id IN ({})", list))
                .into_owned();
            let sql = if self.backend == super::Backend::Sqlite { sql.replace("$1", "?").replace("$2", "?").replace("$3", "?") } else { sql };
            let mut q = built(sql).bind(status.as_str()).bind(now_text()).bind(self.account_no().to_string());
            for id in chunk {
                q = q.bind(id.clone());
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Up to `limit` created payments of a profile not yet in a batch, by reference.
    pub async fn unbatched_payments(&mut self, account: &str, profile: &str, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT payment_ref, amount_fen FROM payments WHERE account_no = $1 AND profile = $2 AND status = 'created' \
             AND batch_id IS NULL ORDER BY payment_ref LIMIT $3",
        )
        .bind(account)
        .bind(profile)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("payment_ref")?, r.try_get("amount_fen")?))).collect()
    }

    /// Creates a batch.
    pub async fn insert_batch(&mut self, b: &BatchRow) -> Result<(), StoreError> {
        let now = now_text();
        sqlx::query(
            "INSERT INTO batches (batch_id, account_no, profile, execution_date, format, nb_of_txs, ctrl_sum_fen, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(b.batch_id.clone())
        .bind(b.account_no.clone())
        .bind(b.profile.clone())
        .bind(b.execution_date.clone())
        .bind(b.format.clone())
        .bind(b.nb_of_txs)
        .bind(b.ctrl_sum_fen)
        .bind(b.status.as_str())
        .bind(b.created_at.clone())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Puts payments waiting for a batch into one; all of them, or an error.
    pub async fn put_in_batch(&mut self, batch_id: &str, refs: &[String]) -> Result<(), StoreError> {
        for (chunk, list) in in_chunks(self.backend, refs, MAX_BINDS / 2, 2) {
            let sql = format!(
                "UPDATE payments SET batch_id = {} WHERE batch_id IS NULL AND payment_ref IN ({})",
                if self.backend == super::Backend::Sqlite { "?" } else { "$1" },
                list
            );
            let mut q = built(or_fail(self.backend, &sql).into_owned()).bind(batch_id.to_string());
            for r in chunk {
                q = q.bind(r.clone());
            }
            let done = q.execute(&mut *self.tx).await?.rows_affected();
            if done != chunk.len() as u64 {
                return Err(StoreError::Invalid(format!(
                    "batch {batch_id}: {} of {} payments were already batched",
                    chunk.len() as u64 - done,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    /// Batches of an account in one of these states, oldest first.
    pub async fn batches_in(&mut self, account: &str, statuses: &[BatchStatus]) -> Result<Vec<BatchRow>, StoreError> {
        let mut out = Vec::new();
        for st in statuses {
            let sql = format!("{BATCH_SELECT} WHERE account_no = $1 AND status = $2 ORDER BY batch_id");
            let rows = built(sql).bind(account).bind(st.as_str()).fetch_all(&mut *self.tx).await?;
            for r in &rows {
                out.push(batch_row(r)?);
            }
        }
        out.sort_by(|a, b| a.batch_id.cmp(&b.batch_id));
        Ok(out)
    }

    /// One batch by id, whatever its state.
    pub async fn batches_in_any(&mut self, batch_id: &str) -> Result<Option<BatchRow>, StoreError> {
        let sql = format!("{BATCH_SELECT} WHERE batch_id = $1");
        let row = built(sql).bind(batch_id).fetch_optional(&mut *self.tx).await?;
        Ok(match row {
            Some(r) => Some(batch_row(&r)?),
            None => None,
        })
    }

    pub async fn set_batch_status(&mut self, batch_id: &str, status: BatchStatus) -> Result<(), StoreError> {
        sqlx::query("UPDATE batches SET status = $1, updated_at = $2 WHERE batch_id = $3")
            .bind(status.as_str())
            .bind(now_text())
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The file of a batch is written: remember which file (its hash is in `files`).
    pub async fn mark_batch_written(&mut self, batch_id: &str, file_id: i64, file_name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE batches SET status = 'written', file_id = $1, file_name = $2, updated_at = $3 WHERE batch_id = $4 AND status = 'created'",
        )
        .bind(file_id)
        .bind(file_name)
        .bind(now_text())
        .bind(batch_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// What a batch's file says of each of its payments, in the order they are written (by
    /// reference). Only the columns the file needs: a province's term reads a million of these.
    pub async fn batch_lines(&mut self, batch_id: &str) -> Result<Vec<BatchLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT payment_ref, amount_fen, card_number, card_holder, bank, remittance FROM payments WHERE batch_id = $1 ORDER BY payment_ref",
        )
        .bind(batch_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BatchLine {
                    payment_ref: r.try_get("payment_ref")?,
                    amount_fen: r.try_get("amount_fen")?,
                    card_number: self.unseal(purpose::CARD_NUMBER, r.try_get("card_number")?)?,
                    card_holder: self.unseal(purpose::CARD_HOLDER, r.try_get("card_holder")?)?,
                    bank: r.try_get("bank")?,
                    remittance: r.try_get("remittance")?,
                })
            })
            .collect()
    }

    /// The sha256 recorded for a file.
    pub async fn file_sha256(&mut self, file_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT sha256 FROM files WHERE id = $1").bind(file_id).fetch_optional(&mut *self.tx).await?;
        Ok(match row {
            Some(r) => Some(r.try_get("sha256")?),
            None => None,
        })
    }

    /// Cancels the payments of a batch that never reached the bank (a reviewer rejected it):
    /// they die (`live` cleared), so their grants may be batched again. Returns how many.
    pub async fn cancel_batch_payments(&mut self, batch_id: &str) -> Result<u64, StoreError> {
        let cancel = or_fail(self.backend, "UPDATE payments SET status = 'cancelled', live = NULL, updated_at = $1 WHERE batch_id = $2 AND status = 'created'");
        Ok(sqlx::query(sqlx::AssertSqlSafe(cancel.into_owned()))
            .bind(now_text())
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    /// Money promised to the bank but not yet seen debited: batches written, being handed over,
    /// in doubt or delivered.
    pub async fn committed_not_debited(&mut self, account: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(ctrl_sum_fen), 0) AS BIGINT) AS total_fen FROM batches WHERE account_no = $1 AND status IN ('written', 'delivering', 'in_doubt', 'delivered')",
        )
        .bind(account)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("total_fen")?)
    }
}

impl Store {
    /// Every payment of a grant, oldest attempt first.
    pub async fn payments_of_grant(&self, grant_id: &str) -> Result<Vec<PaymentRow>, StoreError> {
        let sql = format!("{PAYMENT_SELECT} WHERE ($1 = '' OR account_no = $1) AND grant_id = $2 ORDER BY attempt");
        let rows = built(sql).bind(self.account.clone().unwrap_or_default()).bind(grant_id).fetch_all(&self.pool).await?;
        rows.iter().map(|r| payment_row(self.ring(), r)).collect()
    }

    /// All batches, oldest first.
    pub async fn batches(&self) -> Result<Vec<BatchRow>, StoreError> {
        let sql = format!("{BATCH_SELECT} ORDER BY batch_id");
        let rows = built(sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(batch_row(r)?)).collect()
    }

    /// Payments by status, for `status`.
    pub async fn count_payments_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM payments WHERE ($1 = '' OR account_no = $1) GROUP BY status ORDER BY status",
        )
        .bind(self.account.clone().unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }
}
