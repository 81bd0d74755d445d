//! The special account's statements and notifications, their entries and per-transaction
//! details, stored once each however often the bank repeats them.

use super::{MAX_BINDS, StoreError, StoreTx, in_placeholders, now_text, values_placeholders};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashSet;

/// A statement (camt.053) or notification (camt.054) header.
#[derive(Debug, Clone)]
pub struct StatementRecord {
    pub statement_id: String,
    pub kind: &'static str,
    pub account_no: String,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub opening_fen: Option<i64>,
    pub closing_fen: Option<i64>,
    pub file_id: Option<i64>,
}

/// One booked entry with its details.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    pub entry_key: String,
    pub booking_date: Option<String>,
    pub credit: bool,
    pub reversal: bool,
    pub amount_fen: i64,
    pub batch_ref: Option<String>,
    pub batch_nb_of_txs: Option<i64>,
    pub batch_total_fen: Option<i64>,
    pub bank_tx_code: Option<String>,
    pub counterpart: Option<String>,
    pub info: Option<String>,
    pub details: Vec<DetailRecord>,
}

/// One `TxDtls` of an entry.
#[derive(Debug, Clone)]
pub struct DetailRecord {
    pub end_to_end_id: Option<String>,
    pub amount_fen: Option<i64>,
    pub return_reason: Option<String>,
    pub counterpart: Option<String>,
}

const ENTRY_COLS: usize = 15;
const DETAIL_COLS: usize = 6;

impl StoreTx {
    /// Stores a statement header; `false` if a statement with that id is stored already.
    pub async fn insert_statement_record(&mut self, s: &StatementRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO statements (statement_id, kind, account_no, from_date, to_date, opening_fen, closing_fen, file_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (statement_id) DO NOTHING",
        )
        .bind(s.statement_id.clone())
        .bind(s.kind)
        .bind(s.account_no.clone())
        .bind(s.from_date.clone())
        .bind(s.to_date.clone())
        .bind(s.opening_fen)
        .bind(s.closing_fen)
        .bind(s.file_id)
        .bind(now_text())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The sums of a statement's own entries as the file gave them (whether or not each entry
    /// was new), for the balance check; set once, by the first file that carried the statement.
    pub async fn set_statement_sums(&mut self, statement_id: &str, credits: i64, debits: i64, entries: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE statements SET credits_fen = $1, debits_fen = $2, entry_count = $3 WHERE statement_id = $4 AND entry_count IS NULL")
            .bind(credits)
            .bind(debits)
            .bind(entries)
            .bind(statement_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// A statement's balances, by hand (tests, and banks that send balances only).
    pub async fn insert_statement(&mut self, id: &str, account: &str, from: &str, to: &str, opening: i64, closing: i64) -> Result<(), StoreError> {
        self.insert_statement_record(&StatementRecord {
            statement_id: id.into(),
            kind: "statement",
            account_no: account.into(),
            from_date: Some(from.into()),
            to_date: Some(to.into()),
            opening_fen: Some(opening),
            closing_fen: Some(closing),
            file_id: None,
        })
        .await?;
        Ok(())
    }

    /// The latest known closing balance of the account.
    pub async fn latest_balance(&mut self, account: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT closing_fen FROM statements WHERE account_no = $1 AND kind = 'statement' AND closing_fen IS NOT NULL \
             ORDER BY to_date DESC, created_at DESC LIMIT 1",
        )
        .bind(account)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Stores the entries not stored before (by the bank's reference) and their details.
    /// Returns how many were new.
    pub async fn insert_entries(&mut self, statement_id: &str, account: &str, entries: &[EntryRecord]) -> Result<u64, StoreError> {
        let mut new = 0;
        for chunk in entries.chunks((MAX_BINDS / ENTRY_COLS).min(1000)) {
            let keys: Vec<&str> = chunk.iter().map(|e| e.entry_key.as_str()).collect();
            let sql = format!(
                "SELECT entry_key FROM statement_entries WHERE account_no = {} AND entry_key IN ({})",
                if self.backend == super::Backend::Sqlite { "?" } else { "$1" },
                in_placeholders(self.backend, 2, keys.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(account.to_string());
            for k in &keys {
                q = q.bind(k.to_string());
            }
            let known: HashSet<String> = q.fetch_all(&mut *self.tx).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
            let mut seen_here = HashSet::new();
            let fresh: Vec<&EntryRecord> =
                chunk.iter().filter(|e| !known.contains(&e.entry_key) && seen_here.insert(e.entry_key.clone())).collect();
            if fresh.is_empty() {
                continue;
            }
            let first = self.alloc_ids("statement_entries", fresh.len() as i64).await?;
            let sql = format!(
                "INSERT INTO statement_entries (id, statement_id, account_no, entry_key, booking_date, credit, reversal, amount_fen, \
                 batch_ref, batch_nb_of_txs, batch_total_fen, bank_tx_code, counterpart, info, matched) VALUES {}",
                values_placeholders(self.backend, fresh.len(), ENTRY_COLS)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (i, e) in fresh.iter().enumerate() {
                q = q
                    .bind(first + i as i64)
                    .bind(statement_id.to_string())
                    .bind(account.to_string())
                    .bind(e.entry_key.clone())
                    .bind(e.booking_date.clone())
                    .bind(e.credit as i64)
                    .bind(e.reversal as i64)
                    .bind(e.amount_fen)
                    .bind(e.batch_ref.clone())
                    .bind(e.batch_nb_of_txs)
                    .bind(e.batch_total_fen)
                    .bind(e.bank_tx_code.clone())
                    .bind(e.counterpart.clone())
                    .bind(e.info.clone())
                    .bind(None::<String>);
            }
            q.execute(&mut *self.tx).await?;
            new += fresh.len() as u64;
            let details: Vec<(i64, i64, &DetailRecord)> = fresh
                .iter()
                .enumerate()
                .flat_map(|(i, e)| e.details.iter().enumerate().map(move |(j, d)| (first + i as i64, j as i64, d)))
                .collect();
            for dchunk in details.chunks(MAX_BINDS / DETAIL_COLS) {
                if dchunk.is_empty() {
                    continue;
                }
                let sql = format!(
                    "INSERT INTO statement_details (entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart) VALUES {}",
                    values_placeholders(self.backend, dchunk.len(), DETAIL_COLS)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for (id, pos, d) in dchunk {
                    q = q
                        .bind(*id)
                        .bind(*pos)
                        .bind(d.end_to_end_id.clone())
                        .bind(d.amount_fen)
                        .bind(d.return_reason.clone())
                        .bind(d.counterpart.clone());
                }
                q.execute(&mut *self.tx).await?;
            }
        }
        Ok(new)
    }

    /// Return credits matched: the money of these failed payments is back in the account.
    /// Returns the references whose money was out until now.
    pub async fn money_back(&mut self, refs: &[String]) -> Result<Vec<String>, StoreError> {
        let mut back = Vec::new();
        for chunk in refs.chunks(MAX_BINDS / 2) {
            if chunk.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT payment_ref FROM payments WHERE money_out = 1 AND status IN ('rejected', 'returned') AND payment_ref IN ({})",
                in_placeholders(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r.clone());
            }
            let found: Vec<String> = q.fetch_all(&mut *self.tx).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
            self.set_credit_back(&found).await?;
            back.extend(found);
        }
        Ok(back)
    }
}
