//! What the period reports (月调度 / 季汇总 / 半年通报) and the school ledgers read: plain rows of
//! one special account, summed in Rust (src/reports/period.rs), so the figures come from one
//! place and a test can check them against its own sums.

use super::keys::unseal;
use super::{Store, StoreError, state};
use crate::crypto::purpose;
use crate::domain::{GrantStatus, PaymentStatus};
use sqlx::Row;

/// A payment attempt with its grant's facts.
#[derive(Debug, Clone)]
pub struct PeriodPayment {
    pub payment_ref: String,
    pub grant_id: String,
    pub attempt: i64,
    pub amount_fen: i64,
    pub status: PaymentStatus,
    pub reason_code: Option<String>,
    pub card_number: String,
    /// When it was reserved (aidpay's time, RFC 3339).
    pub created_at: String,
    pub updated_at: String,
    pub batch_id: Option<String>,
    pub id_number: String,
    pub name: String,
    pub school_code: String,
    pub school_name: String,
    pub program: String,
    pub stage: String,
    pub tier: String,
    pub priority: String,
    pub period: String,
}

/// A status the bank reported, as recorded (aidpay's time of the ingest).
#[derive(Debug, Clone)]
pub struct PeriodEvent {
    pub payment_ref: String,
    pub status: String,
    pub reason_code: Option<String>,
    pub created_at: String,
}

/// A booked entry on the special account.
#[derive(Debug, Clone)]
pub struct PeriodEntry {
    pub booking_date: String,
    pub credit: bool,
    pub amount_fen: i64,
    pub matched: Option<String>,
    pub counterpart: Option<String>,
    pub info: Option<String>,
}

/// A statement's balances.
#[derive(Debug, Clone)]
pub struct PeriodStatement {
    pub statement_id: String,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub opening_fen: Option<i64>,
    pub closing_fen: Option<i64>,
}

/// An exception's life.
#[derive(Debug, Clone)]
pub struct PeriodException {
    pub kind: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

/// A grant (for 应助尽助 and the ledgers).
#[derive(Debug, Clone)]
pub struct PeriodGrant {
    pub grant_id: String,
    pub id_number: String,
    pub name: String,
    pub school_code: String,
    pub school_name: String,
    pub stage: String,
    pub grade: String,
    pub program: String,
    pub tier: String,
    pub priority: String,
    pub period: String,
    pub amount_fen: i64,
    pub card_number: String,
    pub status: GrantStatus,
    pub created_at: String,
}

impl Store {
    pub async fn period_payments(&self, account: &str) -> Result<Vec<PeriodPayment>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.payment_ref, p.grant_id, p.attempt, p.amount_fen, p.status, p.reason_code, p.card_number, p.created_at, p.updated_at, \
             p.batch_id, g.id_number, g.name, g.school_code, g.school_name, g.program, g.stage, g.tier, g.priority, g.period \
             FROM payments p JOIN grants g ON g.grant_id = p.grant_id AND g.account_no = p.account_no \
             WHERE p.account_no = $1 ORDER BY p.payment_ref",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        // Card and ID numbers and names are sealed at rest; the reports mask what they show.
        let ring = self.ring();
        rows.iter()
            .map(|r| {
                Ok(PeriodPayment {
                    payment_ref: r.try_get("payment_ref")?,
                    grant_id: r.try_get("grant_id")?,
                    attempt: r.try_get("attempt")?,
                    amount_fen: r.try_get("amount_fen")?,
                    status: state(r, "status")?,
                    reason_code: r.try_get("reason_code")?,
                    card_number: unseal(ring, purpose::CARD_NUMBER, r.try_get("card_number")?)?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    batch_id: r.try_get("batch_id")?,
                    id_number: unseal(ring, purpose::ID_NUMBER, r.try_get("id_number")?)?,
                    name: unseal(ring, purpose::STUDENT_NAME, r.try_get("name")?)?,
                    school_code: r.try_get("school_code")?,
                    school_name: r.try_get("school_name")?,
                    program: r.try_get("program")?,
                    stage: r.try_get("stage")?,
                    tier: r.try_get("tier")?,
                    priority: r.try_get("priority")?,
                    period: r.try_get("period")?,
                })
            })
            .collect()
    }

    pub async fn period_events(&self, account: &str) -> Result<Vec<PeriodEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.payment_ref, e.status, e.reason_code, e.created_at FROM payment_events e \
             JOIN payments p ON p.payment_ref = e.payment_ref WHERE p.account_no = $1 ORDER BY e.id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PeriodEvent {
                    payment_ref: r.try_get("payment_ref")?,
                    status: r.try_get("status")?,
                    reason_code: r.try_get("reason_code")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Booked entries, in booking order.
    pub async fn period_entries(&self, account: &str) -> Result<Vec<PeriodEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT booking_date, credit, amount_fen, matched, counterpart, info FROM statement_entries \
             WHERE account_no = $1 AND status = 'booked' AND booking_date IS NOT NULL ORDER BY booking_date, id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PeriodEntry {
                    booking_date: r.try_get("booking_date")?,
                    credit: r.try_get::<i64, _>("credit")? == 1,
                    amount_fen: r.try_get("amount_fen")?,
                    matched: r.try_get("matched")?,
                    counterpart: r.try_get("counterpart")?,
                    info: r.try_get("info")?,
                })
            })
            .collect()
    }

    /// Statements (not notifications), by end date.
    pub async fn period_statements(&self, account: &str) -> Result<Vec<PeriodStatement>, StoreError> {
        let rows = sqlx::query(
            "SELECT statement_id, from_date, to_date, opening_fen, closing_fen FROM statements \
             WHERE account_no = $1 AND kind = 'statement' ORDER BY to_date, created_at",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PeriodStatement {
                    statement_id: r.try_get("statement_id")?,
                    from_date: r.try_get("from_date")?,
                    to_date: r.try_get("to_date")?,
                    opening_fen: r.try_get("opening_fen")?,
                    closing_fen: r.try_get("closing_fen")?,
                })
            })
            .collect()
    }

    pub async fn period_exceptions(&self, account: &str) -> Result<Vec<PeriodException>, StoreError> {
        let rows = sqlx::query("SELECT kind, created_at, resolved_at FROM exceptions WHERE account_no = $1 ORDER BY id")
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(PeriodException { kind: r.try_get("kind")?, created_at: r.try_get("created_at")?, resolved_at: r.try_get("resolved_at")? }))
            .collect()
    }

    /// Grants of the account; only those of `school` when it is given, only those of `term`
    /// (the grants' 学期) when it is given.
    pub async fn period_grants(&self, account: &str, school: Option<&str>, term: Option<&str>) -> Result<Vec<PeriodGrant>, StoreError> {
        let rows = sqlx::query(
            concat!(
                "SELECT g.grant_id, g.id_number, g.name, g.school_code, g.school_name, g.stage, g.grade, g.program, g.tier, g.priority, \
                 g.period, g.amount_fen, g.card_number, s.status, g.created_at FROM ",
                super::grants::grants_with_state!(),
                " WHERE g.account_no = $1 AND ($2 = '' OR g.school_code = $2) AND ($3 = '' OR g.period = $3) \
                 ORDER BY g.school_code, g.grade, g.name, g.grant_id"
            ),
        )
        .bind(account)
        .bind(school.unwrap_or(""))
        .bind(term.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let ring = self.ring();
        rows.iter()
            .map(|r| {
                Ok(PeriodGrant {
                    grant_id: r.try_get("grant_id")?,
                    id_number: unseal(ring, purpose::ID_NUMBER, r.try_get("id_number")?)?,
                    name: unseal(ring, purpose::STUDENT_NAME, r.try_get("name")?)?,
                    school_code: r.try_get("school_code")?,
                    school_name: r.try_get("school_name")?,
                    stage: r.try_get("stage")?,
                    grade: r.try_get("grade")?,
                    program: r.try_get("program")?,
                    tier: r.try_get("tier")?,
                    priority: r.try_get("priority")?,
                    period: r.try_get("period")?,
                    amount_fen: r.try_get("amount_fen")?,
                    card_number: unseal(ring, purpose::CARD_NUMBER, r.try_get("card_number")?)?,
                    status: state(r, "status")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
