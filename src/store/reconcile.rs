//! What reconciliation reads and marks: statements in order, entries not yet explained, the
//! batches and payments they may belong to, and the account's position.

use super::{MAX_BINDS, Store, StoreError, StoreTx, built, in_chunks, in_chunks_after, now_text, or_fail};
use crate::domain::PaymentStatus;
use sqlx::Row;
use std::collections::HashMap;

/// A statement as reconciliation checks it.
#[derive(Debug, Clone)]
pub struct StatementRow {
    pub statement_id: String,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub opening_fen: Option<i64>,
    pub closing_fen: Option<i64>,
    pub credits_fen: Option<i64>,
    pub debits_fen: Option<i64>,
    pub currency: Option<String>,
    /// Entries listed but not booked.
    pub not_booked: Option<i64>,
    /// What was read leniently, one line each.
    pub warnings: Option<String>,
}

/// The open entries of one side of the account — debits or credits — a page at a time: each
/// [`next`](Self::next) reads the page after the last one it gave ([`StoreTx::open_entries`]),
/// and gives `None` once none is left. Entries explained in between are not read again.
pub struct OpenEntryPages {
    account: String,
    credit: bool,
    limit: usize,
    after: Option<EntryRow>,
    done: bool,
}

impl OpenEntryPages {
    pub fn new(account: &str, credit: bool, limit: usize) -> Self {
        OpenEntryPages { account: account.to_string(), credit, limit, after: None, done: false }
    }

    pub async fn next(&mut self, tx: &mut StoreTx) -> Result<Option<Vec<EntryRow>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = tx.open_entries(&self.account, self.credit, self.after.as_ref(), self.limit).await?;
        // A page shorter than the limit is the last one: no need to ask for an empty one.
        self.done = page.len() < self.limit;
        self.after = page.last().cloned();
        Ok(Some(page).filter(|p| !p.is_empty()))
    }
}

/// An entry not yet explained.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub id: i64,
    pub statement_id: String,
    pub entry_key: String,
    /// The bank's reference as written (what finance staff can look up with the bank).
    pub bank_ref: Option<String>,
    /// `acct_svcr_ref`, `ntry_ref`, `position` or `legacy`.
    pub identified_by: String,
    pub booking_date: Option<String>,
    pub credit: bool,
    pub amount_fen: i64,
    pub batch_ref: Option<String>,
    pub counterpart: Option<String>,
    pub bank_tx_code: Option<String>,
    pub info: Option<String>,
}

/// One detail of an entry (a transaction the bank lists under it).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryDetail {
    /// The end-to-end reference: one of our payment references, when the bank repeats it.
    pub end_to_end_id: Option<String>,
    pub amount_fen: Option<i64>,
    pub return_reason: Option<String>,
}

impl EntryDetail {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(EntryDetail {
            end_to_end_id: r.try_get("end_to_end_id")?,
            amount_fen: r.try_get("amount_fen")?,
            return_reason: r.try_get("return_reason")?,
        })
    }
}

/// A payment as reconciliation sees it.
#[derive(Debug, Clone)]
pub struct PaymentMoney {
    pub payment_ref: String,
    /// The special account that pays it.
    pub account_no: String,
    pub grant_id: String,
    pub batch_id: Option<String>,
    pub status: PaymentStatus,
    pub amount_fen: i64,
    pub money_out: bool,
    pub credit_back: bool,
    pub updated_at: String,
}

const PAYMENT_MONEY: &str =
    "SELECT payment_ref, grant_id, batch_id, status, amount_fen, money_out, credit_back, updated_at, account_no FROM payments";

fn payment_money(r: &sqlx::any::AnyRow) -> Result<PaymentMoney, StoreError> {
    let out: i64 = r.try_get("money_out")?;
    let back: i64 = r.try_get("credit_back")?;
    Ok(PaymentMoney {
        payment_ref: r.try_get("payment_ref")?,
        grant_id: r.try_get("grant_id")?,
        batch_id: r.try_get("batch_id")?,
        status: super::state(r, "status")?,
        amount_fen: r.try_get("amount_fen")?,
        money_out: out != 0,
        credit_back: back != 0,
        updated_at: r.try_get("updated_at")?,
        account_no: r.try_get("account_no")?,
    })
}

/// The account's position (`status`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Position {
    pub allocations_in_fen: i64,
    pub paid_out_fen: i64,
    pub returned_fen: i64,
    pub in_flight_fen: i64,
    pub balance_fen: Option<i64>,
}

impl StoreTx {
    pub async fn statements_of(&mut self, account: &str) -> Result<Vec<StatementRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT statement_id, from_date, to_date, opening_fen, closing_fen, credits_fen, debits_fen, currency, not_booked, warnings \
             FROM statements WHERE account_no = $1 AND kind = 'statement' ORDER BY from_date, to_date, statement_id",
        )
        .bind(account)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StatementRow {
                    statement_id: r.try_get("statement_id")?,
                    from_date: r.try_get("from_date")?,
                    to_date: r.try_get("to_date")?,
                    opening_fen: r.try_get("opening_fen")?,
                    closing_fen: r.try_get("closing_fen")?,
                    credits_fen: r.try_get("credits_fen")?,
                    debits_fen: r.try_get("debits_fen")?,
                    currency: r.try_get("currency")?,
                    not_booked: r.try_get("not_booked")?,
                    warnings: r.try_get("warnings")?,
                })
            })
            .collect()
    }

    /// Booked entries no reconciliation has explained yet, debits or credits, in booking order:
    /// at most `limit` of them, those after `after` (the last entry of the page before; `None`
    /// for the first page). Entries not booked (pending, information) moved no money: they are
    /// kept and shown, never reconciled. Read a page at a time, so that a run's memory does not
    /// grow with the entries open (a province's statement brings 20,000 return credits).
    /// An entry without a booking date sorts first, on both stores.
    pub async fn open_entries(&mut self, account: &str, credit: bool, after: Option<&EntryRow>, limit: usize) -> Result<Vec<EntryRow>, StoreError> {
        let (after_date, after_id) = after.map_or((String::new(), i64::MIN), |e| (e.booking_date.clone().unwrap_or_default(), e.id));
        let rows = sqlx::query(
            "SELECT id, statement_id, entry_key, booking_date, credit, amount_fen, batch_ref, counterpart, bank_tx_code, info, bank_ref, identified_by \
             FROM statement_entries WHERE account_no = $1 AND matched IS NULL AND status = 'booked' AND credit = $2 \
             AND (COALESCE(booking_date, '') > $3 OR (COALESCE(booking_date, '') = $3 AND id > $4)) \
             ORDER BY COALESCE(booking_date, ''), id LIMIT $5",
        )
        .bind(account)
        .bind(i64::from(credit))
        .bind(after_date)
        .bind(after_id)
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                let credit: i64 = r.try_get("credit")?;
                Ok(EntryRow {
                    id: r.try_get("id")?,
                    statement_id: r.try_get("statement_id")?,
                    entry_key: r.try_get("entry_key")?,
                    booking_date: r.try_get("booking_date")?,
                    credit: credit != 0,
                    amount_fen: r.try_get("amount_fen")?,
                    batch_ref: r.try_get("batch_ref")?,
                    counterpart: super::keys::unseal_opt(self.keys.as_deref(), crate::crypto::purpose::COUNTERPART, r.try_get("counterpart")?)?,
                    bank_tx_code: r.try_get("bank_tx_code")?,
                    info: r.try_get("info")?,
                    bank_ref: r.try_get("bank_ref")?,
                    identified_by: r.try_get("identified_by")?,
                })
            })
            .collect()
    }

    /// The details of one entry, in position order.
    pub async fn entry_details(&mut self, entry_id: i64) -> Result<Vec<EntryDetail>, StoreError> {
        Ok(self.details_of_entries(&[entry_id]).await?.remove(&entry_id).unwrap_or_default())
    }

    /// Marks one entry with what it matched.
    pub async fn mark_entry(&mut self, entry_id: i64, matched: &str) -> Result<(), StoreError> {
        self.mark_entries(&[(entry_id, matched.to_string())]).await
    }

    /// Marks many entries, each with what it matched.
    pub async fn mark_entries(&mut self, marks: &[(i64, String)]) -> Result<(), StoreError> {
        // A CASE is checked arm by arm for every row, so the statements stay short.
        for (chunk, list) in in_chunks_after(self.backend, marks, 500, |len| 2 * len + 1) {
            let mut sql = or_fail(self.backend, "UPDATE statement_entries SET matched = CASE id").into_owned();
            let mut n = 1;
            for _ in chunk {
                match self.backend {
                    super::Backend::Sqlite => sql.push_str(" WHEN ? THEN ?"),
                    super::Backend::Postgres => sql.push_str(&format!(" WHEN ${} THEN ${}", n, n + 1)),
                }
                n += 2;
            }
            sql.push_str(&format!(" END WHERE id IN ({})", list));
            let mut q = built(sql);
            for (id, matched) in chunk {
                q = q.bind(*id).bind(matched.clone());
            }
            for (id, _) in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// The details of many entries, by entry id, each in position order.
    pub async fn details_of_entries(&mut self, ids: &[i64]) -> Result<HashMap<i64, Vec<EntryDetail>>, StoreError> {
        let mut out: HashMap<i64, Vec<EntryDetail>> = HashMap::new();
        for (chunk, list) in in_chunks(self.backend, ids, MAX_BINDS / 2, 1) {
            let sql = format!(
                "SELECT entry_id, end_to_end_id, amount_fen, return_reason FROM statement_details WHERE entry_id IN ({}) ORDER BY entry_id, position",
                list
            );
            let mut q = built(sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *self.tx).await? {
                out.entry(r.try_get("entry_id")?).or_default().push(EntryDetail::from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Payments by reference (those that exist).
    pub async fn payments_money(&mut self, refs: &[String]) -> Result<HashMap<String, PaymentMoney>, StoreError> {
        let mut out = HashMap::new();
        for (chunk, list) in in_chunks(self.backend, refs, MAX_BINDS / 2, 1) {
            let sql = format!("{PAYMENT_MONEY} WHERE payment_ref IN ({})", list);
            let mut q = built(sql);
            for r in chunk {
                q = q.bind(r.clone());
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                let p = payment_money(&row)?;
                out.insert(p.payment_ref.clone(), p);
            }
        }
        Ok(out)
    }

    /// The payments of a batch.
    pub async fn batch_money(&mut self, batch_id: &str) -> Result<Vec<PaymentMoney>, StoreError> {
        let sql = format!("{PAYMENT_MONEY} WHERE batch_id = $1 ORDER BY payment_ref");
        let rows = built(sql).bind(batch_id).fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| Ok(payment_money(r)?)).collect()
    }

    /// Failed payments whose money is out of the account and has not come back.
    pub async fn failed_money_out(&mut self, account: &str) -> Result<Vec<PaymentMoney>, StoreError> {
        let sql = format!("{PAYMENT_MONEY} WHERE account_no = $1 AND status IN ('rejected', 'returned') AND money_out = 1 ORDER BY payment_ref");
        let rows = built(sql).bind(account).fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| Ok(payment_money(r)?)).collect()
    }

    /// A batch debit took the money of the batch's payments: all of them (gross booking), or
    /// those that went through (net). One statement, however large the batch.
    pub async fn set_money_out_of_batch(&mut self, batch_id: &str, gross: bool) -> Result<(), StoreError> {
        let sql = if gross {
            "UPDATE payments SET money_out = 1 WHERE batch_id = $1 AND credit_back = 0"
        } else {
            "UPDATE payments SET money_out = 1 WHERE batch_id = $1 AND credit_back = 0 AND status IN ('settled', 'returned')"
        };
        sqlx::query(sqlx::AssertSqlSafe(or_fail(self.backend, sql).into_owned())).bind(batch_id).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Return credits matched: the money of these payments is back.
    pub async fn set_credit_back(&mut self, refs: &[String]) -> Result<(), StoreError> {
        let now = now_text();
        for (chunk, list) in in_chunks(self.backend, refs, MAX_BINDS / 2, 2) {
            let sql = format!(
                "UPDATE payments SET money_out = 0, credit_back = 1, updated_at = {} WHERE payment_ref IN ({})",
                if self.backend == super::Backend::Sqlite { "?" } else { "$1" },
                list
            );
            let mut q = built(or_fail(self.backend, &sql).into_owned()).bind(now.clone());
            for r in chunk {
                q = q.bind(r.clone());
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// A grant counts as paid once its payment is settled and the batch's debit is matched.
    ///
    /// On SQLite in ranges of 20,000 grant ids: SQLite first collects the row ids of everything
    /// one UPDATE changes, so a single statement over a province's million grants grew memory
    /// with the term's size. PostgreSQL does not, and there ranges only cost time: one
    /// statement, a join from the settled payments of debited batches ([`MARK_PAID_PG`]).
    pub async fn mark_paid_grants(&mut self, account: &str) -> Result<u64, StoreError> {
        let now = now_text();
        if self.backend == super::Backend::Postgres {
            return Ok(sqlx::query(MARK_PAID_PG).bind(now.as_str()).bind(account).execute(&mut *self.tx).await?.rows_affected());
        }
        let range: i64 = 20_000;
        let mut after = String::new();
        let mut done = 0;
        loop {
            let upto: Option<String> = sqlx::query(
                "SELECT MAX(grant_id) AS upto FROM (SELECT grant_id FROM grant_states WHERE account_no = $1 AND status = 'valid' AND grant_id > $2 \
                 ORDER BY grant_id LIMIT $3) AS r",
            )
            .bind(account)
            .bind(after.as_str())
            .bind(range)
            .fetch_one(&mut *self.tx)
            .await?
            .try_get("upto")?;
            let Some(upto) = upto else { break };
            done += sqlx::query(
                "UPDATE OR FAIL grant_states SET status = 'paid', updated_at = $1 WHERE account_no = $2 AND status = 'valid' \
                 AND grant_id > $3 AND grant_id <= $4 AND EXISTS (SELECT 1 FROM payments p JOIN batches b ON b.batch_id = p.batch_id \
                 WHERE p.account_no = grant_states.account_no AND p.grant_id = grant_states.grant_id AND p.status = 'settled' AND b.status = 'debited')",
            )
            .bind(now.as_str())
            .bind(account)
            .bind(after.as_str())
            .bind(upto.as_str())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
            after = upto;
        }
        Ok(done)
    }

    pub async fn batch_by_id(&mut self, batch_id: &str) -> Result<Option<super::BatchRow>, StoreError> {
        Ok(self.batches_in_any(batch_id).await?)
    }
}

/// PostgreSQL's turn of grants to paid: `UPDATE … FROM` the settled payments of debited
/// batches. Written as `EXISTS`, PostgreSQL gathered the payments into a hash of grant keys
/// (spilling to disk at a million) and then updated the grants in that hash's order, all over
/// the table: 30 s for a million against 15 s joined, in the order of the batches' payments
/// (measured with `EXPLAIN ANALYZE` on the bench's store). A grant's settled payment is its one
/// live payment, so the join meets each grant once; were it to meet one twice, PostgreSQL still
/// updates the row once and counts it once.
const MARK_PAID_PG: &str = "UPDATE grant_states SET status = 'paid', updated_at = $1 FROM payments p JOIN batches b ON b.batch_id = p.batch_id \
     WHERE grant_states.account_no = $2 AND grant_states.status = 'valid' AND p.account_no = grant_states.account_no \
     AND p.grant_id = grant_states.grant_id AND p.status = 'settled' AND b.status = 'debited'";

impl Store {
    /// The account's position from the statements and the payments.
    pub async fn position(&self, account: &str) -> Result<Position, StoreError> {
        // One connection for all the sums: each pooled SQLite connection keeps its own page
        // cache, so spreading five scans over the pool would fill several.
        let mut tx = self.begin().await?;
        let balance = tx.latest_balance(account).await?;
        let mut sums = [0i64; 4];
        let queries = [
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS total_fen FROM statement_entries WHERE account_no = $1 AND matched = 'allocation'",
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS total_fen FROM statement_entries WHERE account_no = $1 AND credit = 0 AND matched LIKE 'batch:%'",
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS total_fen FROM statement_entries WHERE account_no = $1 AND credit = 1 AND matched LIKE 'return:%'",
            "SELECT CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) AS total_fen FROM payments p LEFT JOIN batches b ON b.batch_id = p.batch_id \
             WHERE p.account_no = $1 AND (p.status IN ('created', 'sent', 'accepted') OR (p.status = 'settled' AND (b.status IS NULL OR b.status <> 'debited')))",
        ];
        for (sum, sql) in sums.iter_mut().zip(queries) {
            *sum = sqlx::query(sql).bind(account).fetch_one(&mut *tx.tx).await?.try_get("total_fen")?;
        }
        tx.commit().await?;
        let [allocations_in_fen, paid_out_fen, returned_fen, in_flight_fen] = sums;
        Ok(Position { allocations_in_fen, paid_out_fen, returned_fen, in_flight_fen, balance_fen: balance })
    }
}

/// An entry as the reconciliation report shows it.
#[derive(Debug, Clone)]
pub struct ReportEntry {
    pub booking_date: Option<String>,
    pub credit: bool,
    pub amount_fen: i64,
    pub entry_key: String,
    pub batch_ref: Option<String>,
    pub matched: Option<String>,
    pub info: Option<String>,
    pub bank_ref: Option<String>,
    /// Only a booked entry moved money.
    pub status: super::EntryStatus,
}

impl Store {
    /// A statement's entries as stored under it (also those not booked), in booking order.
    pub async fn statement_entries(&self, account: &str, statement_id: &str) -> Result<Vec<ReportEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT booking_date, credit, amount_fen, entry_key, batch_ref, matched, info, bank_ref, status FROM statement_entries \
             WHERE account_no = $1 AND statement_id = $2 ORDER BY booking_date, id",
        )
        .bind(account)
        .bind(statement_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let credit: i64 = r.try_get("credit")?;
                Ok(ReportEntry {
                    booking_date: r.try_get("booking_date")?,
                    credit: credit != 0,
                    amount_fen: r.try_get("amount_fen")?,
                    entry_key: r.try_get("entry_key")?,
                    batch_ref: r.try_get("batch_ref")?,
                    matched: r.try_get("matched")?,
                    info: r.try_get("info")?,
                    bank_ref: r.try_get("bank_ref")?,
                    status: super::EntryStatus::parse(&r.try_get::<String, _>("status")?),
                })
            })
            .collect()
    }

    /// The account's notifications (camt.054) that still carry entries of their own (those no
    /// statement repeated yet, and those not booked), oldest first: (id, created at).
    pub async fn notifications_with_entries(&self, account: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.statement_id, s.created_at FROM statements s WHERE s.account_no = $1 AND s.kind = 'notification' \
             AND EXISTS (SELECT 1 FROM statement_entries e WHERE e.account_no = s.account_no AND e.statement_id = s.statement_id) \
             ORDER BY s.created_at, s.statement_id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("statement_id")?, r.try_get("created_at")?))).collect()
    }

    /// The account's statements in date order.
    pub async fn statements(&self, account: &str) -> Result<Vec<StatementRow>, StoreError> {
        let mut tx = self.begin().await?;
        let s = tx.statements_of(account).await?;
        tx.commit().await?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::statements::{EntryRecord, EntryStatus, IdentifiedBy, StatementRecord};
    use super::super::PoolSize;
    use super::*;
    use std::collections::HashSet;

    fn entry(position: i64, credit: bool, date: Option<&str>) -> EntryRecord {
        EntryRecord {
            identity: format!("E{position}|{}", if credit { 'C' } else { 'D' }),
            identified_by: IdentifiedBy::Position,
            bank_ref: None,
            position,
            status: EntryStatus::Booked,
            booking_date: date.map(str::to_string),
            credit,
            reversal: false,
            amount_fen: 100 * position,
            batch_ref: None,
            batch_nb_of_txs: None,
            batch_total_fen: None,
            bank_tx_code: None,
            counterpart: None,
            info: None,
            details: Vec::new(),
        }
    }

    #[tokio::test]
    async fn open_entries_come_a_page_at_a_time_in_booking_order_debits_and_credits_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::sqlite_store(dir.path(), PoolSize { connections: 1, page_cache_mb: 8 }).await;
        let account = "130100000012345678";
        let mut tx = store.begin().await.unwrap();
        tx.insert_statement_record(&StatementRecord {
            statement_id: "S1".into(),
            kind: "statement",
            account_no: account.into(),
            currency: Some("CNY".into()),
            from_date: None,
            to_date: None,
            opening_fen: None,
            closing_fen: None,
            file_id: None,
        })
        .await
        .unwrap();
        // Credits 1–5 and debits 6–7, stored out of date order; one credit has no date.
        let dates = [Some("2026-12-03"), None, Some("2026-12-01"), Some("2026-12-03"), Some("2026-12-02"), Some("2026-12-02"), Some("2026-12-01")];
        let entries: Vec<_> = dates.iter().enumerate().map(|(i, d)| entry(i as i64 + 1, i < 5, *d)).collect();
        tx.store_entries("S1", "statement", account, &entries, &mut HashSet::new()).await.unwrap();

        // Pages of two credits; the first page's first entry is explained before the next page
        // is read, as reconciliation does: it is not read again, and nothing is skipped.
        let mut seen = Vec::new();
        let mut pages = OpenEntryPages::new(account, true, 2);
        while let Some(page) = pages.next(&mut tx).await.unwrap() {
            assert!(page.len() <= 2);
            if seen.is_empty() {
                tx.mark_entry(page[0].id, "return:test").await.unwrap();
            }
            seen.extend(page.iter().map(|e| (e.amount_fen / 100, e.booking_date.clone())));
        }
        let positions: Vec<i64> = seen.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, vec![2, 3, 5, 1, 4], "no date first, then by date and as stored: {seen:?}");
        let debits: Vec<i64> = tx.open_entries(account, false, None, 10).await.unwrap().iter().map(|e| e.amount_fen / 100).collect();
        assert_eq!(debits, vec![7, 6]);
        // The one explained is no longer open; the rest still are.
        let open: Vec<i64> = tx.open_entries(account, true, None, 10).await.unwrap().iter().map(|e| e.amount_fen / 100).collect();
        assert_eq!(open, vec![3, 5, 1, 4]);
        drop(tx);
    }
}
