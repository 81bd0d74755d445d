//! The special account's statements and notifications, their entries and per-transaction
//! details: every real entry stored, and stored once however often the bank repeats it.
//!
//! # Entry identity
//!
//! Banks reuse their reference (`AcctSvcrRef`): a return (退票) or a reversal carries the
//! original's, several credits of a QR or batch collection are booked under one, also inside one
//! file. The reference alone therefore never decides that two entries are one. An entry's
//! **identity** is the reference together with what makes entries distinct —
//! `reference|C or D|R or -|amount in fen` ([`entry_identity`]): the sign, the reversal flag and
//! the amount. The reference is `AcctSvcrRef`, else `NtryRef`, else, when the bank gives
//! neither, the statement and the entry's position in it (`<statement>#<n>`), which only the
//! same statement sent again repeats. How it was found is kept in `identified_by`.
//!
//! Entries of equal identity are told apart when a file is stored ([`StoreTx::store_entries`]):
//! an entry of the file is the repeat of a stored one of the same identity only if
//! - that stored entry is not already the repeat of another entry of this file (a file never
//!   lists one entry twice: two equal entries in one file are two entries; a later file with
//!   both matches both, one with one matches one),
//! - both booked on the same day, unless one of them is not booked yet (a pending entry is
//!   booked later, on its own day),
//! - and their transactions' end-to-end references (`TxDtls/Refs/EndToEndId`, `NOTPROVIDED`
//!   ignored) are not disjoint when both carry some: two credits under one reference for
//!   different payments are two credits.
//!
//! The surest match is made first: an entry and a stored one sharing end-to-end references,
//! then two that both carry references or both carry none, then any that may be one; among
//! candidates the one of the same day wins, then the oldest. So an overlapping statement, or a camt.054 followed by the
//! camt.053 that repeats it (or the other way round), stores each entry once, and a repeated
//! reference never merges two real entries.
//!
//! A stored entry that was pending and is now reported booked becomes booked (and counts from
//! then on, once); a booked one is never turned back. A stored entry without details gets the
//! details a later file gives. An entry first seen in a notification (camt.054) moves to the
//! statement (camt.053) that repeats it: the statement is the account's record, and its report
//! lists every entry it carries.

use super::{MAX_BINDS, StoreError, StoreTx, built, in_chunks, in_placeholders, now_text, or_fail, value_chunks, values_placeholders};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// A statement (camt.053) or notification (camt.054) header.
#[derive(Debug, Clone)]
pub struct StatementRecord {
    pub statement_id: String,
    pub kind: &'static str,
    pub account_no: String,
    pub currency: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub opening_fen: Option<i64>,
    pub closing_fen: Option<i64>,
    pub file_id: Option<i64>,
}

/// What the statement's own entries add up to, as the file gave them (stored once).
#[derive(Debug, Clone, Default)]
pub struct StatementSums {
    /// Booked credits and debits, unsigned.
    pub credits_fen: i64,
    pub debits_fen: i64,
    /// Booked entries.
    pub entries: i64,
    /// Entries listed but not booked.
    pub not_booked: i64,
    /// What was read leniently, one line each.
    pub warnings: Vec<String>,
}

/// How an entry's identity was found (`identified_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifiedBy {
    /// The bank's `AcctSvcrRef`.
    AcctSvcrRef,
    /// `NtryRef`, when there is no `AcctSvcrRef`.
    NtryRef,
    /// Neither: the statement and the entry's position in it.
    Position,
    /// Stored before migration 0003, by the reference alone.
    Legacy,
}

impl IdentifiedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifiedBy::AcctSvcrRef => "acct_svcr_ref",
            IdentifiedBy::NtryRef => "ntry_ref",
            IdentifiedBy::Position => "position",
            IdentifiedBy::Legacy => "legacy",
        }
    }

    pub fn parse(s: &str) -> Option<IdentifiedBy> {
        [IdentifiedBy::AcctSvcrRef, IdentifiedBy::NtryRef, IdentifiedBy::Position, IdentifiedBy::Legacy].into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether an entry moved money (`status`): only a booked one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// `BOOK`.
    Booked,
    /// `PDNG`: pending, may still be booked (or not).
    Pending,
    /// `INFO`: information only, never booked.
    Info,
    /// `FUTR`: to be booked on a future date.
    Future,
    /// Another code.
    Other,
}

impl EntryStatus {
    /// From `Ntry/Sts` (or `Sts/Cd`); `None` (no status at all) is the caller's decision.
    pub fn from_iso(code: &str) -> EntryStatus {
        match code.trim().to_ascii_uppercase().as_str() {
            "BOOK" => EntryStatus::Booked,
            "PDNG" => EntryStatus::Pending,
            "INFO" => EntryStatus::Info,
            "FUTR" => EntryStatus::Future,
            _ => EntryStatus::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Booked => "booked",
            EntryStatus::Pending => "pending",
            EntryStatus::Info => "info",
            EntryStatus::Future => "future",
            EntryStatus::Other => "other",
        }
    }

    pub fn parse(s: &str) -> EntryStatus {
        match s {
            "booked" => EntryStatus::Booked,
            "pending" => EntryStatus::Pending,
            "info" => EntryStatus::Info,
            "future" => EntryStatus::Future,
            _ => EntryStatus::Other,
        }
    }

    /// As finance staff read it.
    pub fn label_zh(self) -> &'static str {
        match self {
            EntryStatus::Booked => "已记账",
            EntryStatus::Pending => "待记账（未计入）",
            EntryStatus::Info => "仅供参考（未记账）",
            EntryStatus::Future => "未来记账（未计入）",
            EntryStatus::Other => "状态不明（未计入）",
        }
    }
}

/// An entry's identity: the bank's reference with its sign, reversal flag and amount (see the
/// module documentation). Migration 0003 computes the same text for the entries it keeps.
pub fn entry_identity(reference: &str, credit: bool, reversal: bool, amount_fen: i64) -> String {
    format!("{reference}|{}|{}|{amount_fen}", if credit { 'C' } else { 'D' }, if reversal { 'R' } else { '-' })
}

/// One entry with its details, as read from a file.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    /// [`entry_identity`].
    pub identity: String,
    pub identified_by: IdentifiedBy,
    /// `AcctSvcrRef`, else `NtryRef`, as written.
    pub bank_ref: Option<String>,
    /// 1-based place in its statement.
    pub position: i64,
    pub status: EntryStatus,
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

/// What [`StoreTx::store_entries`] did with a file's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntriesStored {
    /// Stored now.
    pub new: u64,
    /// Already stored (an overlapping statement, a camt.054 repeated by its camt.053).
    pub repeated: u64,
    /// Already stored as not booked, and booked now.
    pub now_booked: u64,
}

impl std::ops::AddAssign for EntriesStored {
    fn add_assign(&mut self, o: EntriesStored) {
        self.new += o.new;
        self.repeated += o.repeated;
        self.now_booked += o.now_booked;
    }
}

/// End-to-end references that identify a transaction (`NOTPROVIDED` and blanks do not).
fn transaction_refs<'a>(refs: impl Iterator<Item = Option<&'a str>>) -> HashSet<String> {
    refs.flatten().map(str::trim).filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("NOTPROVIDED")).map(str::to_string).collect()
}

/// A stored entry that an entry of the file may repeat.
struct Stored {
    id: i64,
    booking_date: Option<String>,
    booked: bool,
    /// Stored under a notification (camt.054), not a statement.
    in_notification: bool,
    refs: HashSet<String>,
    has_details: bool,
}

const ENTRY_COLS: usize = 20;
const DETAIL_COLS: usize = 6;

impl StoreTx {
    /// Stores a statement header; `false` if this account has a statement with that id already.
    pub async fn insert_statement_record(&mut self, s: &StatementRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO statements (account_no, statement_id, kind, currency, from_date, to_date, opening_fen, closing_fen, file_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (account_no, statement_id) DO NOTHING",
        )
        .bind(s.account_no.clone())
        .bind(s.statement_id.clone())
        .bind(s.kind)
        .bind(s.currency.clone())
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
    /// was new), for the balance check, and its warnings; set once, by the first file that
    /// carried the statement.
    pub async fn set_statement_sums(&mut self, account: &str, statement_id: &str, sums: &StatementSums) -> Result<(), StoreError> {
        let warnings = if sums.warnings.is_empty() { None } else { Some(sums.warnings.join("\n")) };
        sqlx::query(
            "UPDATE statements SET credits_fen = $1, debits_fen = $2, entry_count = $3, not_booked = $4, warnings = $5 \
             WHERE account_no = $6 AND statement_id = $7 AND entry_count IS NULL",
        )
        .bind(sums.credits_fen)
        .bind(sums.debits_fen)
        .bind(sums.entries)
        .bind(sums.not_booked)
        .bind(warnings)
        .bind(account)
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
            currency: None,
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
            Some(r) => Some(r.try_get("closing_fen")?),
            None => None,
        })
    }

    /// Stores the entries of one statement of a file: each new one with its details, each one
    /// stored before recognised (see the module documentation for how). `claimed` holds the
    /// stored entries the file's entries turned out to be so far (across its statements and
    /// chunks); give the same set for the whole file.
    /// `kind` is the statement's: `statement` or `notification`.
    pub async fn store_entries(
        &mut self,
        statement_id: &str,
        kind: &str,
        account: &str,
        entries: &[EntryRecord],
        claimed: &mut HashSet<i64>,
    ) -> Result<EntriesStored, StoreError> {
        let mut done = EntriesStored::default();
        for chunk in entries.chunks((MAX_BINDS / ENTRY_COLS).min(1000)) {
            done += self.store_entry_chunk(statement_id, kind == "statement", account, chunk, claimed).await?;
        }
        Ok(done)
    }

    async fn store_entry_chunk(
        &mut self,
        statement_id: &str,
        is_statement: bool,
        account: &str,
        chunk: &[EntryRecord],
        claimed: &mut HashSet<i64>,
    ) -> Result<EntriesStored, StoreError> {
        let mut done = EntriesStored::default();
        // The stored entries of the same identities, with their keys and transaction refs.
        let identities: Vec<String> = chunk.iter().map(|e| e.identity.clone()).collect::<HashSet<_>>().into_iter().collect();
        let mut stored: HashMap<String, Vec<Stored>> = HashMap::new();
        let mut keys: HashSet<String> = HashSet::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let sql = format!(
            "SELECT e.id, e.identity, e.entry_key, e.booking_date, e.status, s.kind FROM statement_entries e \
             JOIN statements s ON s.account_no = e.account_no AND s.statement_id = e.statement_id \
             WHERE e.account_no = {} AND e.identity IN ({}) ORDER BY e.id",
            if self.backend == super::Backend::Sqlite { "?" } else { "$1" },
            in_placeholders(self.backend, 2, identities.len())
        );
        let mut q = built(sql).bind(account.to_string());
        for k in &identities {
            q = q.bind(k.clone());
        }
        for r in q.fetch_all(&mut *self.tx).await? {
            let identity: String = r.try_get("identity")?;
            keys.insert(r.try_get("entry_key")?);
            *counts.entry(identity.clone()).or_default() += 1;
            let status: String = r.try_get("status")?;
            let kind: String = r.try_get("kind")?;
            stored.entry(identity).or_default().push(Stored {
                id: r.try_get("id")?,
                booking_date: r.try_get("booking_date")?,
                booked: EntryStatus::parse(&status) == EntryStatus::Booked,
                in_notification: kind == "notification",
                refs: HashSet::new(),
                has_details: false,
            });
        }
        let ids: Vec<i64> = stored.values().flatten().map(|s| s.id).collect();
        let mut details_of: HashMap<i64, Vec<Option<String>>> = HashMap::new();
        for (ids, list) in in_chunks(self.backend, &ids, MAX_BINDS, 1) {
            let sql = format!("SELECT entry_id, end_to_end_id FROM statement_details WHERE entry_id IN ({})", list);
            let mut q = built(sql);
            for id in ids {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *self.tx).await? {
                details_of.entry(r.try_get("entry_id")?).or_default().push(r.try_get("end_to_end_id")?);
            }
        }
        for s in stored.values_mut().flatten() {
            if let Some(d) = details_of.get(&s.id) {
                s.has_details = true;
                s.refs = transaction_refs(d.iter().map(Option::as_deref));
            }
        }

        // Which stored entry each entry of the chunk repeats, decided in passes from the surest
        // kind of match to the loosest, so that an entry with the right transaction references
        // is never left new because a looser one took its stored twin first.
        let refs: Vec<HashSet<String>> = chunk.iter().map(|e| transaction_refs(e.details.iter().map(|d| d.end_to_end_id.as_deref()))).collect();
        let mut repeats: Vec<Option<usize>> = vec![None; chunk.len()];
        for pass in 0..3 {
            for (i, e) in chunk.iter().enumerate() {
                if repeats[i].is_some() {
                    continue;
                }
                let mine = &refs[i];
                let booked = e.status == EntryStatus::Booked;
                let candidates = stored.get(&e.identity).map(Vec::as_slice).unwrap_or_default();
                let best = candidates
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !claimed.contains(&s.id))
                    // Two booked entries are one only if booked on the same day.
                    .filter(|(_, s)| !(booked && s.booked) || s.booking_date.is_none() || e.booking_date.is_none() || s.booking_date == e.booking_date)
                    // Different payments are different entries.
                    .filter(|(_, s)| mine.is_empty() || s.refs.is_empty() || !mine.is_disjoint(&s.refs))
                    .filter(|(_, s)| match pass {
                        // 1: the same transactions; 2: both with or both without references; 3: any.
                        0 => !mine.is_empty() && !mine.is_disjoint(&s.refs),
                        1 => mine.is_empty() == s.refs.is_empty(),
                        _ => true,
                    })
                    .min_by_key(|(_, s)| (s.booking_date != e.booking_date, s.id));
                if let Some((j, s)) = best {
                    claimed.insert(s.id);
                    repeats[i] = Some(j);
                }
            }
        }
        let mut fresh: Vec<(&EntryRecord, String)> = Vec::new();
        let mut booked_now: Vec<(i64, Option<String>)> = Vec::new();
        let mut add_details: Vec<(i64, &EntryRecord)> = Vec::new();
        let mut adopt: Vec<(i64, i64)> = Vec::new();
        for (e, repeat) in chunk.iter().zip(&repeats) {
            match repeat.and_then(|j| stored.get(&e.identity).and_then(|c| c.get(j))) {
                Some(s) => {
                    done.repeated += 1;
                    if is_statement && s.in_notification {
                        adopt.push((s.id, e.position));
                    }
                    if e.status == EntryStatus::Booked && !s.booked {
                        booked_now.push((s.id, e.booking_date.clone()));
                    }
                    if !s.has_details && !e.details.is_empty() {
                        add_details.push((s.id, e));
                    }
                }
                None => {
                    // identity#n, the first n not taken (entries stored before 0003 keep their old keys).
                    let count = counts.entry(e.identity.clone()).or_default();
                    let mut n = *count + 1;
                    let mut key = format!("{}#{n}", e.identity);
                    while keys.contains(&key) {
                        n += 1;
                        key = format!("{}#{n}", e.identity);
                    }
                    *count += 1;
                    keys.insert(key.clone());
                    fresh.push((e, key));
                }
            }
        }

        if !fresh.is_empty() {
            let ids: Vec<i64> = self.alloc_ids("statement_entries", fresh.len() as i64).await?.iter().collect();
            let sql = format!(
                "INSERT INTO statement_entries (id, account_no, statement_id, entry_key, identity, identified_by, bank_ref, position, status, \
                 booking_date, credit, reversal, amount_fen, batch_ref, batch_nb_of_txs, batch_total_fen, bank_tx_code, counterpart, info, matched) \
                 VALUES {}",
                values_placeholders(self.backend, fresh.len(), ENTRY_COLS)
            );
            let mut q = built(or_fail(self.backend, &sql).into_owned());
            for (i, (e, key)) in fresh.iter().enumerate() {
                q = q
                    .bind(ids[i])
                    .bind(account.to_string())
                    .bind(statement_id.to_string())
                    .bind(key.clone())
                    .bind(e.identity.clone())
                    .bind(e.identified_by.as_str())
                    .bind(e.bank_ref.clone())
                    .bind(e.position)
                    .bind(e.status.as_str())
                    .bind(e.booking_date.clone())
                    .bind(e.credit as i64)
                    .bind(e.reversal as i64)
                    .bind(e.amount_fen)
                    .bind(e.batch_ref.clone())
                    .bind(e.batch_nb_of_txs)
                    .bind(e.batch_total_fen)
                    .bind(e.bank_tx_code.clone())
                    .bind(e.counterpart.as_deref().map(|c| self.seal(crate::crypto::purpose::COUNTERPART, c)).transpose()?)
                    .bind(e.info.clone())
                    .bind(None::<String>);
            }
            q.execute(&mut *self.tx).await?;
            done.new += fresh.len() as u64;
            claimed.extend(ids.iter().copied());
            let with_ids: Vec<(i64, &EntryRecord)> = fresh.iter().enumerate().map(|(i, (e, _))| (ids[i], *e)).collect();
            self.insert_details(&with_ids).await?;
        }
        self.insert_details(&add_details).await?;
        for (id, date) in &booked_now {
            sqlx::query("UPDATE statement_entries SET status = 'booked', booking_date = COALESCE($1, booking_date) WHERE id = $2")
                .bind(date.clone())
                .bind(*id)
                .execute(&mut *self.tx)
                .await?;
        }
        done.now_booked += booked_now.len() as u64;
        for (id, position) in &adopt {
            sqlx::query("UPDATE statement_entries SET statement_id = $1, position = $2 WHERE id = $3")
                .bind(statement_id)
                .bind(*position)
                .bind(*id)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(done)
    }

    async fn insert_details(&mut self, entries: &[(i64, &EntryRecord)]) -> Result<(), StoreError> {
        let details: Vec<(i64, i64, &DetailRecord)> =
            entries.iter().flat_map(|(id, e)| e.details.iter().enumerate().map(move |(j, d)| (*id, j as i64, d))).collect();
        for (dchunk, values) in value_chunks(self.backend, &details, DETAIL_COLS) {
            let sql = format!(
                "INSERT INTO statement_details (entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart) VALUES {}",
                values
            );
            let mut q = built(or_fail(self.backend, &sql).into_owned());
            for (id, pos, d) in dchunk {
                q = q
                    .bind(*id)
                    .bind(*pos)
                    .bind(d.end_to_end_id.clone())
                    .bind(d.amount_fen)
                    .bind(d.return_reason.clone())
                    .bind(d.counterpart.as_deref().map(|c| self.seal(crate::crypto::purpose::COUNTERPART, c)).transpose()?);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Return credits booked on the special account `account`: the money of these failed
    /// payments of that account is back. Payments of another account (another district in the
    /// same database) are never touched. Returns the references whose money was out until now.
    pub async fn money_back(&mut self, account: &str, refs: &[String]) -> Result<Vec<String>, StoreError> {
        let mut back = Vec::new();
        for (chunk, list) in in_chunks(self.backend, refs, MAX_BINDS / 2, 2) {
            let sql = format!(
                "SELECT payment_ref FROM payments WHERE account_no = {} AND money_out = 1 AND status IN ('rejected', 'returned') AND payment_ref IN ({})",
                if self.backend == super::Backend::Sqlite { "?" } else { "$1" },
                list
            );
            let mut q = built(sql).bind(account.to_string());
            for r in chunk {
                q = q.bind(r.clone());
            }
            let found: Vec<String> = q.fetch_all(&mut *self.tx).await?.iter().map(|r| r.try_get("payment_ref")).collect::<Result<_, _>>()?;
            self.set_credit_back(&found).await?;
            back.extend(found);
        }
        Ok(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_names() {
        assert_eq!(entry_identity("R1", true, false, 12_500), "R1|C|-|12500");
        assert_eq!(entry_identity("S#3", false, true, 1), "S#3|D|R|1");
        for k in [IdentifiedBy::AcctSvcrRef, IdentifiedBy::NtryRef, IdentifiedBy::Position, IdentifiedBy::Legacy] {
            assert_eq!(IdentifiedBy::parse(k.as_str()), Some(k));
        }
        for s in [EntryStatus::Booked, EntryStatus::Pending, EntryStatus::Info, EntryStatus::Future, EntryStatus::Other] {
            assert_eq!(EntryStatus::parse(s.as_str()), s);
        }
        assert_eq!(EntryStatus::from_iso(" pdng "), EntryStatus::Pending);
        assert_eq!(EntryStatus::from_iso("XXXX"), EntryStatus::Other);
        assert!(transaction_refs([Some("NOTPROVIDED"), Some(" "), None, Some("AP1")].into_iter()).contains("AP1"));
        assert_eq!(transaction_refs([Some("notprovided")].into_iter()).len(), 0);
    }
}
