//! What the bank answered: payment statuses, their history, and the cards the bank reported
//! closed or frozen.

use super::bulk::{Bulk, Col};
use super::{MAX_BINDS, Store, StoreError, StoreTx, bind_keys, keyed, keys_condition, now_text, or_fail, state};
use crate::crypto::purpose;
use crate::domain::{CardStatus, PaymentStatus};
use sqlx::Row;
use std::collections::HashMap;

/// A payment's state as the answer matcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentState {
    pub payment_ref: String,
    pub grant_id: String,
    pub batch_id: Option<String>,
    pub status: PaymentStatus,
    pub amount_fen: i64,
    pub card_number: String,
    pub money_out: bool,
}

/// One status the bank reported, kept in order (repeats too).
#[derive(Debug, Clone)]
pub struct PaymentEvent {
    pub payment_ref: String,
    pub status: String,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
}

const EVENT_COLS: usize = 7;

/// The payments among `n` references, with their account (`account_no` last). By reference
/// alone, and the account compared by the caller: with `account_no = ? AND payment_ref IN (…)`
/// SQLite took the (account_no, grant_id, attempt) index for a long IN-list and walked every
/// payment of the account for each answer file (1.5 s a pain.002 of 5,000 at a million
/// payments, growing with the store), instead of one primary-key look-up per reference.
fn payments_by_refs_sql(backend: super::Backend, n: usize) -> String {
    format!(
        "SELECT payment_ref, grant_id, batch_id, status, amount_fen, card_number, money_out, account_no FROM payments WHERE {}",
        keys_condition(backend, "payment_ref", 1, n)
    )
}

/// A row of `payment_ref, grant_id, batch_id, status, amount_fen, card_number, money_out`.
fn payment_state(keys: Option<&crate::crypto::KeyRing>, row: &sqlx::any::AnyRow) -> Result<PaymentState, StoreError> {
    let money_out: i64 = row.try_get("money_out")?;
    Ok(PaymentState {
        payment_ref: row.try_get("payment_ref")?,
        grant_id: row.try_get("grant_id")?,
        batch_id: row.try_get("batch_id")?,
        status: state(row, "status")?,
        amount_fen: row.try_get("amount_fen")?,
        card_number: super::keys::unseal(keys, purpose::CARD_NUMBER, row.try_get("card_number")?)?,
        money_out: money_out != 0,
    })
}

impl StoreTx {
    /// The payments with these references that exist.
    pub async fn payments_by_refs(&mut self, refs: &[&str]) -> Result<HashMap<String, PaymentState>, StoreError> {
        let mut out = HashMap::with_capacity(refs.len());
        for chunk in refs.chunks(MAX_BINDS / 2) {
            let q = bind_keys(self.backend, keyed(self.backend, payments_by_refs_sql(self.backend, chunk.len())), chunk);
            let account = self.account_no().to_string();
            for row in q.fetch_all(&mut *self.tx).await? {
                // Another district's payment is no payment of ours: its reference is unknown here.
                if row.try_get::<String, _>("account_no")? != account {
                    continue;
                }
                let p = payment_state(self.keys.as_deref(), &row)?;
                out.insert(p.payment_ref.clone(), p);
            }
        }
        Ok(out)
    }

    /// The references of a batch in file order (the order payments are written).
    pub async fn batch_refs(&mut self, batch_id: &str) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT payment_ref FROM payments WHERE batch_id = $1 ORDER BY payment_ref").bind(batch_id).fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| Ok(r.try_get("payment_ref")?)).collect()
    }

    /// The references of a batch's payments that have no final status yet.
    pub async fn batch_refs_open(&mut self, batch_id: &str) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT payment_ref FROM payments WHERE batch_id = $1 AND status IN ('created', 'sent', 'accepted') ORDER BY payment_ref")
                .bind(batch_id)
                .fetch_all(&mut *self.tx)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("payment_ref")?)).collect()
    }

    /// Sets status, reason and money-out flag of many payments: one statement per distinct
    /// (status, reason, money_out), since an answer file has few of those.
    pub async fn update_payments(&mut self, updates: &[(String, PaymentStatus, Option<String>, bool)]) -> Result<(), StoreError> {
        let mut groups: HashMap<(PaymentStatus, Option<&str>, bool), Vec<&str>> = HashMap::new();
        for (r, status, reason, out) in updates {
            groups.entry((*status, reason.as_deref(), *out)).or_default().push(r.as_str());
        }
        let now = now_text();
        for ((status, reason, out), refs) in groups {
            // Only an attempt that dies touches `live` (and so the one-live-per-grant index).
            let dies = !status.is_live();
            for chunk in refs.chunks(MAX_BINDS / 2) {
                let mut first = match self.backend {
                    super::Backend::Sqlite => "status = ?, reason_code = ?, money_out = ?, updated_at = ?".to_string(),
                    super::Backend::Postgres => "status = $1, reason_code = $2, money_out = $3, updated_at = $4".to_string(),
                };
                if dies {
                    first.push_str(", live = NULL");
                }
                let refs = keys_condition(self.backend, "payment_ref", 5, chunk.len());
                let sql = or_fail(self.backend, &format!("UPDATE payments SET {first} WHERE {refs}")).into_owned();
                let q = keyed(self.backend, sql).bind(status.as_str()).bind(reason.map(str::to_string)).bind(out as i64).bind(now.clone());
                bind_keys(self.backend, q, chunk).execute(&mut *self.tx).await?;
            }
        }
        Ok(())
    }

    /// Appends reported statuses to the history.
    pub async fn insert_payment_events(&mut self, file_id: i64, events: &[PaymentEvent]) -> Result<(), StoreError> {
        let now = now_text();
        for chunk in events.chunks(MAX_BINDS / EVENT_COLS) {
            let ids: Vec<i64> = self.alloc_ids("payment_events", chunk.len() as i64).await?.iter().collect();
            let mut q = Bulk::new(
                self.backend,
                "INSERT INTO payment_events (id, payment_ref, status, reason_code, reason_text, file_id, created_at)",
                &[Col::BigInt, Col::Text, Col::Text, Col::Text, Col::Text, Col::BigInt, Col::Text],
                chunk.len(),
                "",
            );
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(ids[i])
                    .bind(e.payment_ref.clone())
                    .bind(e.status.clone())
                    .bind(e.reason_code.clone())
                    .bind(e.reason_text.clone())
                    .bind(file_id)
                    .bind(now.clone());
            }
            q.query().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Marks a card closed or frozen, as the bank reported.
    pub async fn set_card_status(&mut self, card_number: &str, status: CardStatus) -> Result<(), StoreError> {
        sqlx::query("UPDATE cards SET status = $1 WHERE card_hash = $2")
            .bind(status.as_str())
            .bind(self.lookup(purpose::CARD_NUMBER, card_number)?)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Payments sent (or accepted) whose last change is older than `before`, with no final status.
    pub async fn unanswered_payments(&mut self, account: &str, before: &str) -> Result<Vec<PaymentState>, StoreError> {
        let rows = sqlx::query(
            "SELECT payment_ref, grant_id, batch_id, status, amount_fen, card_number, money_out FROM payments \
             WHERE account_no = $1 AND status IN ('sent', 'accepted') AND updated_at < $2 ORDER BY payment_ref",
        )
        .bind(account)
        .bind(before)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|row| payment_state(self.keys.as_deref(), row)).collect()
    }
}

impl Store {
    /// The status history of a payment, oldest first.
    pub async fn payment_events(&self, payment_ref: &str) -> Result<Vec<PaymentEvent>, StoreError> {
        let rows = sqlx::query("SELECT payment_ref, status, reason_code, reason_text FROM payment_events WHERE payment_ref = $1 ORDER BY id")
            .bind(payment_ref)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PaymentEvent {
                    payment_ref: r.try_get("payment_ref")?,
                    status: r.try_get("status")?,
                    reason_code: r.try_get("reason_code")?,
                    reason_text: r.try_get("reason_text")?,
                })
            })
            .collect()
    }

    /// A card's status (`active`, `closed`, `frozen`), if the card is known.
    pub async fn card_status(&self, card_number: &str) -> Result<Option<CardStatus>, StoreError> {
        let hash = super::keys::lookup(self.ring(), purpose::CARD_NUMBER, card_number)?;
        let row = sqlx::query("SELECT status FROM cards WHERE card_hash = $1").bind(hash).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => Some(state(&r, "status")?),
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer file of 5,000 statuses is looked up by primary key, never by walking the
    /// account's payments (SQLite's plan for the statement, on the real schema).
    #[tokio::test]
    async fn payments_are_looked_up_by_reference_not_by_walking_the_account() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        super::super::MIGRATOR.run(&pool).await.unwrap();
        let n = 5_000;
        let mut q = super::super::built(format!("EXPLAIN QUERY PLAN {}", payments_by_refs_sql(super::super::Backend::Sqlite, n)));
        for i in 0..n {
            q = q.bind(format!("AP{i:012}"));
        }
        let plan: Vec<String> = q.fetch_all(&pool).await.unwrap().iter().map(|r| r.try_get::<String, _>(3).unwrap()).collect();
        let plan = plan.join(" / ");
        assert!(plan.contains("payment_ref=?") && !plan.contains("account_no"), "{plan}");
    }
}
