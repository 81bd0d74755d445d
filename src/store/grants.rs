//! Grants: stored as imported, looked up by grant id and by student × program × period.

use super::bulk::{Bulk, Col};
use super::{ByKeys, MAX_BINDS, Store, StoreError, StoreTx, built, in_chunks, now_text, placeholder, state};
use crate::crypto::purpose;
use crate::domain::grant::NewGrant;
use crate::domain::{GrantStatus, PaymentStatus, Priority};
use sqlx::Row;
use std::collections::HashMap;

/// A grant to insert, with what intake decided about it.
#[derive(Debug)]
pub struct GrantRecord<'a> {
    pub grant: &'a NewGrant,
    /// `Valid` or `Held`.
    pub status: GrantStatus,
    pub fingerprint: String,
    pub line: u64,
    /// Its personal data sealed ahead, off the store's path ([`Sealer`]); else sealed here.
    pub sealed: Option<&'a SealedGrant>,
}

/// A grant's personal data as the grants row stores it: name, ID number, holder and card sealed
/// under the current data key, and the ID's and card's look-up hashes.
#[derive(Debug, Clone)]
pub struct SealedGrant {
    name: String,
    id_number: String,
    card_holder: String,
    card_number: String,
    id_hash: String,
    card_hash: String,
}

/// Seals grants ahead of their insert, on any thread: an import's reading thread seals each
/// chunk while the store writes the one before, so the encryption (four values and two hashes
/// a row) no longer waits its turn with SQLite. A store without a key gives `None`, and then
/// [`StoreTx::insert_grants`] seals — and refuses — as it always did.
#[derive(Clone)]
pub struct Sealer {
    keys: Option<std::sync::Arc<crate::crypto::KeyRing>>,
}

impl Sealer {
    pub fn grant(&self, g: &NewGrant) -> Option<SealedGrant> {
        SealedGrant::of(self.keys.as_deref(), g).ok()
    }
}

impl SealedGrant {
    /// Seals `g`'s personal data; without a key, the store's refusal.
    fn of(keys: Option<&crate::crypto::KeyRing>, g: &NewGrant) -> Result<SealedGrant, StoreError> {
        use super::keys::{lookup, seal};
        Ok(SealedGrant {
            name: seal(keys, purpose::STUDENT_NAME, &g.name)?,
            id_number: seal(keys, purpose::ID_NUMBER, &g.id_number)?,
            card_holder: seal(keys, purpose::CARD_HOLDER, &g.card_holder)?,
            card_number: seal(keys, purpose::CARD_NUMBER, &g.card_number)?,
            id_hash: lookup(keys, purpose::ID_NUMBER, &g.id_number)?,
            card_hash: lookup(keys, purpose::CARD_NUMBER, &g.card_number)?,
        })
    }
}

impl Store {
    /// A [`Sealer`] with this store's data key.
    pub fn sealer(&self) -> Sealer {
        Sealer { keys: self.keys.clone() }
    }
}

/// A grant as stored (the fields a conflict report compares).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGrant {
    pub grant_id: String,
    pub name: String,
    pub id_number: String,
    pub school_code: String,
    pub school_name: String,
    pub stage: String,
    pub grade: String,
    pub program: String,
    pub tier: String,
    pub priority: String,
    pub period: String,
    pub amount_fen: i64,
    pub card_holder: String,
    pub card_number: String,
    pub bank: String,
    pub notice_end: String,
    pub status: GrantStatus,
}

const GRANT_COLS: usize = 24;

/// A grant row's insert: its columns, and their types in that order.
const GRANTS_HEAD: &str = "INSERT INTO grants (grant_id, account_no, name, id_number, school_code, school_name, stage, grade, program, \
     tier, priority, period, amount_fen, card_holder, card_number, bank, notice_end, fingerprint, \
     source_file_id, source_line, created_at, updated_at, id_hash, card_hash)";
const GRANT_TYPES: [Col; GRANT_COLS] = {
    let mut t = [Col::Text; GRANT_COLS];
    // amount_fen, source_file_id, source_line
    t[12] = Col::BigInt;
    t[18] = Col::BigInt;
    t[19] = Col::BigInt;
    t
};

/// What intake needs to know of a grant id it meets again.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownGrant {
    pub fingerprint: String,
    pub status: GrantStatus,
    /// Whether any payment attempt was ever made for it (then its content is fixed).
    pub attempted: bool,
}

/// One payment attempt of a grant.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantAttempt {
    pub payment_ref: String,
    pub attempt: i64,
    pub status: PaymentStatus,
    /// Whether its money left the account (settled, or returned later).
    pub money_out: bool,
}

/// A grant already on file that uses a card number.
#[derive(Debug, Clone, PartialEq)]
pub struct CardUse {
    pub grant_id: String,
    pub id_number: String,
    pub holder: String,
    pub stage: String,
}

/// A grant (`g`) with its owner state (`s`), for a `FROM` over many of an account's grants
/// (counts, reports): since migration 0014 the state is a row of `grant_states`, so that
/// reconciliation's turn of a term's grants to paid rewrites small rows, not the grants.
/// Macros, so that `concat!` can put them into static statements.
macro_rules! grants_with_state {
    () => {
        "grants g JOIN grant_states s ON s.account_no = g.account_no AND s.grant_id = g.grant_id"
    };
}
pub(crate) use grants_with_state;

/// A grant's (`g`) status, as an expression: for the look-ups by key, a subquery rather than a
/// join. In a join PostgreSQL may hash the state rows, and a district's first import, whose
/// tables it has no statistics of, then read every state row for every key (8 s a chunk of a
/// thousand at a million grants); a scalar subquery is always run per row found, one probe of
/// the state's primary key.
macro_rules! grant_state {
    () => {
        "(SELECT s.status FROM grant_states s WHERE s.account_no = g.account_no AND s.grant_id = g.grant_id)"
    };
}
pub(crate) use grant_state;

/// [`StoreTx::known_grants`]' look-up.
pub(crate) const KNOWN_GRANTS: ByKeys = ByKeys {
    cols: concat!("g.grant_id, g.fingerprint, ", grant_state!(), " AS status"),
    from: "grants g",
    account: "g.account_no",
    also: "",
    key: "g.grant_id",
    prefix_index: None,
};

/// [`StoreTx::grants_by_cards`]' look-up.
pub(crate) const GRANTS_BY_CARDS: ByKeys = ByKeys {
    cols: "g.card_hash, g.grant_id, g.id_number, g.card_holder, g.stage",
    from: "grants g",
    account: "g.account_no",
    also: concat!(grant_state!(), " <> 'cancelled'"),
    key: "g.card_hash",
    prefix_index: Some("grants_card_key"),
};

/// [`StoreTx::grants_of_students`]' look-up.
pub(crate) const GRANTS_OF_STUDENTS: ByKeys = ByKeys {
    cols: "g.id_hash, g.program, g.period, g.grant_id",
    from: "grants g",
    account: "g.account_no",
    also: concat!(grant_state!(), " <> 'cancelled'"),
    key: "g.id_hash",
    prefix_index: Some("grants_id_key"),
};

/// [`StoreTx::eligible_grants`]' look-up of the grants a range of valid states names.
pub(crate) const GRANTS_TO_PAY: ByKeys = ByKeys {
    cols: "grant_id, amount_fen, card_number, card_holder, card_hash, bank, period, program, notice_end",
    from: "grants",
    account: "account_no",
    also: "",
    key: "grant_id",
    prefix_index: None,
};

impl StoreTx {
    /// This account's grants among these ids: fingerprint, status, and whether they were ever attempted.
    pub async fn known_grants(&mut self, ids: &[&str]) -> Result<HashMap<String, KnownGrant>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        let account = self.account_no().to_string();
        for row in self.by_keys(&KNOWN_GRANTS, &account, ids).await? {
            out.insert(row.try_get("grant_id")?, KnownGrant { fingerprint: row.try_get("fingerprint")?, status: state(&row, "status")?, attempted: false });
        }
        // Whether they were attempted: the payments of the grants found, by grant id (none to
        // look for in a district's first import).
        let found: Vec<String> = out.keys().cloned().collect();
        for row in self.by_keys(&super::payments::ATTEMPTS_OF_GRANTS, &account, &found).await? {
            if let Some(known) = out.get_mut(&row.try_get::<String, _>("grant_id")?) {
                known.attempted = true;
            }
        }
        Ok(out)
    }

    /// This account's live (not cancelled) grants that use these card numbers, by card.
    /// Found by the cards' look-up hashes, never by the clear number. No `ORDER BY` in the SQL
    /// (the uses are sorted here): with one, SQLite walks the whole account by grant id instead
    /// of the hash index (1.2 s per thousand cards at a million grants).
    pub async fn grants_by_cards(&mut self, cards: &[&str]) -> Result<HashMap<String, Vec<CardUse>>, StoreError> {
        let mut out: HashMap<String, Vec<CardUse>> = HashMap::new();
        let account = self.account_no().to_string();
        let mut by_hash: HashMap<String, &str> = HashMap::with_capacity(cards.len());
        for c in cards {
            by_hash.insert(self.lookup(purpose::CARD_NUMBER, c)?, *c);
        }
        let hashes: Vec<&String> = by_hash.keys().collect();
        for row in self.by_keys(&GRANTS_BY_CARDS, &account, &hashes).await? {
            let hash: String = row.try_get("card_hash")?;
            let Some(card) = by_hash.get(&hash) else {
                continue;
            };
            let use_ = CardUse {
                grant_id: row.try_get("grant_id")?,
                id_number: self.unseal(purpose::ID_NUMBER, row.try_get("id_number")?)?,
                holder: self.unseal(purpose::CARD_HOLDER, row.try_get("card_holder")?)?,
                stage: row.try_get("stage")?,
            };
            out.entry(card.to_string()).or_default().push(use_);
        }
        for uses in out.values_mut() {
            uses.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
        }
        Ok(out)
    }

    /// For these ID numbers, the live (not cancelled) grants they already have, keyed by
    /// (id_number, program, period) → grant id.
    pub async fn grants_of_students(&mut self, id_numbers: &[&str]) -> Result<HashMap<(String, String, String), String>, StoreError> {
        let mut out = HashMap::new();
        let account = self.account_no().to_string();
        let mut by_hash: HashMap<String, &str> = HashMap::with_capacity(id_numbers.len());
        for id in id_numbers {
            by_hash.insert(self.lookup(purpose::ID_NUMBER, id)?, *id);
        }
        let hashes: Vec<&String> = by_hash.keys().collect();
        let mut found: Vec<(String, String, String, String)> = Vec::new();
        for row in self.by_keys(&GRANTS_OF_STUDENTS, &account, &hashes).await? {
            let hash: String = row.try_get("id_hash")?;
            let Some(id) = by_hash.get(&hash) else {
                continue;
            };
            found.push((row.try_get("grant_id")?, id.to_string(), row.try_get("program")?, row.try_get("period")?));
        }
        // The first grant id per student × program × period.
        found.sort();
        for (gid, id, program, period) in found {
            out.entry((id, program, period)).or_insert(gid);
        }
        Ok(out)
    }

    /// Removes grants that a school's corrected re-send supersedes, before the new versions are
    /// inserted with [`insert_grants`](Self::insert_grants). Only grants never attempted can go
    /// (nothing refers to them yet); anything else is an error and nothing is removed.
    pub async fn remove_unattempted_grants(&mut self, ids: &[&str]) -> Result<(), StoreError> {
        let account = self.account_no().to_string();
        for (chunk, list) in in_chunks(self.backend, ids, MAX_BINDS / 2, 2) {
            // The states first (they refer to their grants), then the grants themselves.
            let mut done = 0;
            for table in ["grant_states", "grants"] {
                let sql = format!(
                    "DELETE FROM {table} WHERE account_no = {} AND grant_id IN ({}) \
                     AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_no = {table}.account_no AND p.grant_id = {table}.grant_id)",
                    placeholder(self.backend, 1),
                    list
                );
                let mut q = built(sql).bind(account.clone());
                for id in chunk {
                    q = q.bind(*id);
                }
                done = q.execute(&mut *self.tx).await?.rows_affected();
            }
            if done != chunk.len() as u64 {
                return Err(StoreError::Invalid(format!(
                    "{} of {} grants to supersede have a payment attempt or are gone",
                    chunk.len() as u64 - done,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    /// Inserts grants (multi-row statements) and registers their cards.
    pub async fn insert_grants(&mut self, account_no: &str, file_id: i64, rows: &[GrantRecord<'_>]) -> Result<(), StoreError> {
        let now = now_text();
        for chunk in rows.chunks(MAX_BINDS / GRANT_COLS) {
            if chunk.is_empty() {
                continue;
            }
            // Sealed ahead where the import could (see `Sealer`), else here, once per row: the
            // grant row's card and holder also go into the cards row below.
            let sealed: Vec<std::borrow::Cow<SealedGrant>> = chunk
                .iter()
                .map(|r| match r.sealed {
                    Some(done) => Ok(std::borrow::Cow::Borrowed(done)),
                    None => SealedGrant::of(self.keys.as_deref(), r.grant).map(std::borrow::Cow::Owned),
                })
                .collect::<Result<_, StoreError>>()?;
            let mut q = Bulk::new(self.backend, GRANTS_HEAD, &GRANT_TYPES, chunk.len(), "");
            for (r, p) in chunk.iter().zip(&sealed) {
                let g = r.grant;
                q = q
                    .bind(g.grant_id.clone())
                    .bind(account_no.to_string())
                    .bind(p.name.clone())
                    .bind(p.id_number.clone())
                    .bind(g.school_code.clone())
                    .bind(g.school_name.clone())
                    .bind(g.stage.label())
                    .bind(g.grade.clone())
                    .bind(g.program.clone())
                    .bind(g.tier.label())
                    .bind(Priority::join(&g.priority))
                    .bind(g.period.clone())
                    .bind(g.amount.0)
                    .bind(p.card_holder.clone())
                    .bind(p.card_number.clone())
                    .bind(g.bank.clone())
                    .bind(g.notice_end.to_string())
                    .bind(r.fingerprint.clone())
                    .bind(file_id)
                    .bind(r.line as i64)
                    .bind(now.clone())
                    .bind(now.clone())
                    .bind(p.id_hash.clone())
                    .bind(p.card_hash.clone());
            }
            q.query().execute(&mut *self.tx).await?;
            // Each grant's owner state, beside it.
            let mut q = Bulk::new(self.backend, "INSERT INTO grant_states (account_no, grant_id, status, updated_at)", &[Col::Text; 4], chunk.len(), "");
            for r in chunk {
                q = q.bind(account_no).bind(r.grant.grant_id.clone()).bind(r.status.as_str()).bind(now.clone());
            }
            q.query().execute(&mut *self.tx).await?;

            // Register the cards of valid grants (the first holder name seen is kept), with the
            // grant row's sealed card and holder: the cards row seals them for the same purposes.
            let cards: Vec<(&GrantRecord, &SealedGrant)> =
                chunk.iter().zip(sealed.iter().map(|p| p.as_ref())).filter(|(r, _)| r.status == GrantStatus::Valid).collect();
            if !cards.is_empty() {
                // One row per card: a statement may not name the same conflict key twice on PostgreSQL.
                let mut seen = std::collections::HashSet::new();
                let mut uniq = Vec::with_capacity(cards.len());
                for (r, p) in cards {
                    if seen.insert(&p.card_hash) {
                        uniq.push((r, p));
                    }
                }
                let mut q = Bulk::new(
                    self.backend,
                    "INSERT INTO cards (card_hash, card_number, holder_name, bank, first_seen)",
                    &[Col::Text; 5],
                    uniq.len(),
                    " ON CONFLICT (card_hash) DO NOTHING",
                );
                for (r, p) in uniq {
                    q = q
                        .bind(p.card_hash.clone())
                        .bind(p.card_number.clone())
                        .bind(p.card_holder.clone())
                        .bind(r.grant.bank.clone())
                        .bind(now.clone());
                }
                q.query().execute(&mut *self.tx).await?;
            }
        }
        Ok(())
    }

    /// One grant as stored.
    pub async fn grant(&mut self, grant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let row = sqlx::query(
            concat!(
                "SELECT g.grant_id, g.name, g.id_number, g.school_code, g.school_name, g.stage, g.grade, g.program, g.tier, g.priority, \
                 g.period, g.amount_fen, g.card_holder, g.card_number, g.bank, g.notice_end, ",
                grant_state!(),
                " AS status FROM grants g WHERE ($1 = '' OR g.account_no = $1) AND g.grant_id = $2 ORDER BY g.account_no LIMIT 1"
            ),
        )
        .bind(self.account_no().to_string())
        .bind(grant_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredGrant {
            grant_id: r.try_get("grant_id")?,
            name: self.unseal(purpose::STUDENT_NAME, r.try_get("name")?)?,
            id_number: self.unseal(purpose::ID_NUMBER, r.try_get("id_number")?)?,
            school_code: r.try_get("school_code")?,
            school_name: r.try_get("school_name")?,
            stage: r.try_get("stage")?,
            grade: r.try_get("grade")?,
            program: r.try_get("program")?,
            tier: r.try_get("tier")?,
            priority: r.try_get("priority")?,
            period: r.try_get("period")?,
            amount_fen: r.try_get("amount_fen")?,
            card_holder: self.unseal(purpose::CARD_HOLDER, r.try_get("card_holder")?)?,
            card_number: self.unseal(purpose::CARD_NUMBER, r.try_get("card_number")?)?,
            bank: r.try_get("bank")?,
            notice_end: r.try_get("notice_end")?,
            status: state(&r, "status")?,
        }))
    }
}

impl super::Store {
    /// Grants by status, for `status` and tests.
    pub async fn count_grants_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM grant_states WHERE ($1 = '' OR account_no = $1) GROUP BY status ORDER BY status",
        )
        .bind(self.account.clone().unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// One grant as stored.
    pub async fn grant(&self, grant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let mut tx = self.begin().await?;
        let g = tx.grant(grant_id).await?;
        tx.commit().await?;
        Ok(g)
    }
}

impl StoreTx {
    /// Corrects a grant's card (finance staff, on re-issue) and sets its status.
    pub async fn update_grant_card(&mut self, grant_id: &str, card_number: &str, holder: &str, status: GrantStatus) -> Result<(), StoreError> {
        sqlx::query("UPDATE grants SET card_number = $1, card_holder = $2, updated_at = $3, card_hash = $6 WHERE account_no = $4 AND grant_id = $5")
            .bind(self.seal(purpose::CARD_NUMBER, card_number)?)
            .bind(self.seal(purpose::CARD_HOLDER, holder)?)
            .bind(now_text())
            .bind(self.account_no().to_string())
            .bind(grant_id)
            .bind(self.lookup(purpose::CARD_NUMBER, card_number)?)
            .execute(&mut *self.tx)
            .await?;
        self.set_grant_status(grant_id, status).await
    }

    /// Sets one grant's status.
    pub async fn set_grant_status(&mut self, grant_id: &str, status: GrantStatus) -> Result<(), StoreError> {
        sqlx::query("UPDATE grant_states SET status = $1, updated_at = $2 WHERE account_no = $3 AND grant_id = $4")
            .bind(status.as_str())
            .bind(now_text())
            .bind(self.account_no().to_string())
            .bind(grant_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Every payment of a grant, oldest attempt first.
    pub async fn grant_payments(&mut self, grant_id: &str) -> Result<Vec<GrantAttempt>, StoreError> {
        let rows =
            sqlx::query("SELECT payment_ref, attempt, status, money_out FROM payments WHERE account_no = $1 AND grant_id = $2 ORDER BY attempt")
                .bind(self.account_no().to_string())
                .bind(grant_id)
                .fetch_all(&mut *self.tx)
                .await?;
        rows.iter()
            .map(|r| {
                let out: i64 = r.try_get("money_out")?;
                Ok(GrantAttempt {
                    payment_ref: r.try_get("payment_ref")?,
                    attempt: r.try_get("attempt")?,
                    status: state(r, "status")?,
                    money_out: out != 0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PoolSize;

    const ACCOUNT: &str = "130100000012345678";
    const ID_NUMBER: &str = "110101200801011234";
    const CARD: &str = "6217000010001234567";

    /// A valid grant of `account` with these look-up hashes (its sealed ID number and holder
    /// are the student's), written straight into the tables.
    async fn grant_with_hashes(tx: &mut StoreTx, account: &str, grant_id: &str, id_hash: &str, card_hash: &str) {
        let id_number = tx.seal(purpose::ID_NUMBER, ID_NUMBER).unwrap();
        let holder = tx.seal(purpose::CARD_HOLDER, "张三").unwrap();
        sqlx::query(
            "INSERT INTO grants (grant_id, account_no, name, id_number, school_code, school_name, stage, grade, program, tier, priority, \
             period, amount_fen, card_holder, card_number, bank, notice_end, fingerprint, source_file_id, source_line, created_at, \
             updated_at, id_hash, card_hash) VALUES ($1, $2, 'n', $3, 'S1', '一中', 'high', '1', 'NSG', '1', '1', '2026秋', 100000, \
             $4, 'c', 'ICBC', '2026-12-31', 'f', 1, 2, 't', 't', $5, $6)",
        )
        .bind(grant_id)
        .bind(account)
        .bind(id_number)
        .bind(holder)
        .bind(id_hash)
        .bind(card_hash)
        .execute(&mut *tx.tx)
        .await
        .unwrap();
        sqlx::query("INSERT INTO grant_states (account_no, grant_id, status, updated_at) VALUES ($1, $2, 'valid', 't')")
            .bind(account)
            .bind(grant_id)
            .execute(&mut *tx.tx)
            .await
            .unwrap();
    }

    /// SQLite finds grants by the first 64 bits of a look-up hash (migration 0016); a grant
    /// whose hash only begins the same, or that is another account's, is not the student's.
    #[tokio::test]
    async fn a_grant_whose_hash_only_begins_like_the_students_is_not_taken_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::tests::sqlite_store(dir.path(), PoolSize { connections: 1, page_cache_mb: 8 }).await.scoped(ACCOUNT);
        let mut tx = store.begin().await.unwrap();
        let id_hash = tx.lookup(purpose::ID_NUMBER, ID_NUMBER).unwrap();
        let card_hash = tx.lookup(purpose::CARD_NUMBER, CARD).unwrap();
        let twin = |h: &str| {
            let tail = if h.ends_with('0') { "1" } else { "0" };
            format!("{}{}", &h[..31], tail)
        };
        grant_with_hashes(&mut tx, ACCOUNT, "G-SAME", &id_hash, &card_hash).await;
        grant_with_hashes(&mut tx, ACCOUNT, "G-TWIN", &twin(&id_hash), &twin(&card_hash)).await;
        grant_with_hashes(&mut tx, "130100000099999999", "G-OTHER", &id_hash, &card_hash).await;

        let students = tx.grants_of_students(&[ID_NUMBER]).await.unwrap();
        assert_eq!(students.values().map(String::as_str).collect::<Vec<_>>(), ["G-SAME"], "{students:?}");
        let cards = tx.grants_by_cards(&[CARD]).await.unwrap();
        let uses: Vec<&str> = cards[CARD].iter().map(|u| u.grant_id.as_str()).collect();
        assert_eq!(uses, ["G-SAME"]);
        assert_eq!(cards[CARD][0].holder, "张三");
    }
}
