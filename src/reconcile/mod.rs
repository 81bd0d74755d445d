//! Reconciliation of the special account (专款专用): every yuan that left it must match a batch
//! of ours, every failed payment's money must come back, and the statements must chain.
//!
//! One run looks at the statements in date order and at every entry not yet explained:
//! - **balances**: closing = opening + credits − debits within a statement, and each opening is
//!   the previous closing; a gap between statements is reported as missing days;
//! - **debits** → our batches: by the batch id the bank repeats (`Btch/PmtInfId`), else by the
//!   payment references in its details, else by amount within `debit_match_days` of the batch's
//!   execution date. The expected amount depends on the bank profile's booking: **gross** (the
//!   whole batch) or **net** (only the payments that went through). Anything else is an
//!   `unknown_debit` (money left the account with no batch of ours) or a `batch_debit_mismatch`;
//! - **credits** → fiscal allocations (configured counterpart accounts) or return credits (退票)
//!   of failed payments, by reference, else by a unique amount; a credit that is neither is an
//!   `unmatched_return_credit`;
//! - failed payments whose money is out and has not come back after `return_days`:
//!   `return_not_credited`.
//!
//! Only **booked** entries are reconciled: pending (`PDNG`) and information (`INFO`) entries are
//! kept and shown in the report, and count once a later statement books them. Only this
//! account's batches and payments are matched (one database may hold a province's districts).
//!
//! A payment counts as **paid** only when the bank settled it and its batch debit is matched.
//! Runs are idempotent: explained entries are marked, exceptions are raised once.

use crate::config::Config;
use crate::domain::Fen;
use crate::domain::{BatchStatus, LabelZh, PaymentStatus};
use crate::exceptions::{ExceptionKind, NewException};
use crate::store::{AuditEntry, EntryDetail, EntryRow, OpenEntryPages, PaymentMoney, Position, Store, StoreError, StoreTx};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What one reconciliation run found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Outcome {
    pub statements: u64,
    pub balance_breaks: u64,
    /// Date ranges no statement covers, between the first and the last statement.
    pub missing_days: Vec<String>,
    pub batch_debits_matched: u64,
    pub returns_matched: u64,
    pub allocations: u64,
    pub unknown_debits: u64,
    pub mismatches: u64,
    pub unmatched_credits: u64,
    pub returns_not_credited: u64,
    pub grants_paid: u64,
    pub exceptions_raised: u64,
    pub position: PositionOut,
}

/// The account's position in yuan (text, exact).
#[derive(Debug, Clone, Serialize, Default)]
pub struct PositionOut {
    pub allocations_in: String,
    pub paid_out: String,
    pub returned: String,
    pub in_flight: String,
    pub balance: Option<String>,
}

impl From<Position> for PositionOut {
    fn from(p: Position) -> Self {
        PositionOut {
            allocations_in: Fen(p.allocations_in_fen).to_string(),
            paid_out: Fen(p.paid_out_fen).to_string(),
            returned: Fen(p.returned_fen).to_string(),
            in_flight: Fen(p.in_flight_fen).to_string(),
            balance: p.balance_fen.map(|b| Fen(b).to_string()),
        }
    }
}

fn date(s: &Option<String>) -> Option<NaiveDate> {
    s.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

fn ex(kind: ExceptionKind, amount: Option<i64>, payment_ref: Option<String>, detail: String, subject: String) -> NewException {
    NewException::new(kind, subject, detail).payment(payment_ref).amount(amount)
}

/// How an entry is named in exception keys: unique in the whole database (one database may hold
/// a province's districts, and two banks may use the same reference). Entries stored before
/// migration 0003 keep their old key, so the exceptions already raised for them stay the same.
fn finding(account: &str, e: &EntryRow) -> String {
    if e.identified_by == "legacy" { e.entry_key.clone() } else { format!("{account}:{}", e.entry_key) }
}

/// How an entry is named for finance staff: the bank's reference (what they can ask the bank
/// about), else its place in the statement.
fn entry_words(e: &EntryRow) -> String {
    match &e.bank_ref {
        Some(r) => format!("银行流水号 {r}"),
        None => format!("分录 {}", e.entry_key.split('|').next().unwrap_or(&e.entry_key)),
    }
}

/// Reconciles the configured special account; one transaction.
pub async fn run(store: &Store, cfg: &Config, actor: &str) -> Result<Outcome, StoreError> {
    let account = cfg.account.number.as_str();
    let mut out = Outcome::default();
    let mut raised = Vec::new();
    // Fresh statistics keep PostgreSQL's plans for the joins below linear; without them the run
    // is only slower, so a failure is a warning.
    if let Err(e) = store.refresh_statistics(&["grants", "grant_states", "payments", "batches", "statement_entries", "statement_details"]).await {
        tracing::warn!("planner statistics not refreshed before reconciling: {e}");
    }
    let mut tx = store.begin().await?;
    tx.lock(&format!("reconcile:{account}")).await?;

    check_balances(&mut tx, account, &mut out, &mut raised).await?;
    // Debits first: a gross batch debit puts its failed payments' money "out", so the return
    // credits in the same statement then bring it back. A page of entries at a time.
    let mut debits = OpenEntryPages::new(account, false, ENTRY_PAGE);
    while let Some(page) = debits.next(&mut tx).await? {
        for e in &page {
            debit(&mut tx, cfg, e, &mut out, &mut raised).await?;
        }
    }
    let mut matched = Matched::default();
    let mut credits = OpenEntryPages::new(account, true, ENTRY_PAGE);
    while let Some(page) = credits.next(&mut tx).await? {
        let known = Known::load(&mut tx, &page.iter().collect::<Vec<_>>()).await?;
        for e in &page {
            credit(&mut tx, cfg, e, &known, &mut matched, &mut out, &mut raised).await?;
        }
        matched.flush(&mut tx).await?;
    }
    not_credited(&mut tx, cfg, &mut out, &mut raised).await?;
    out.grants_paid = tx.mark_paid_grants(account).await?;
    out.exceptions_raised = tx.insert_exceptions(&raised).await?;
    tx.audit(&AuditEntry {
        actor,
        action: "reconcile",
        subject: account,
        before: None,
        after: Some(serde_json::json!({
            "statements": out.statements, "batch_debits_matched": out.batch_debits_matched, "returns_matched": out.returns_matched,
            "unknown_debits": out.unknown_debits, "balance_breaks": out.balance_breaks, "exceptions_raised": out.exceptions_raised,
        })),
    })
    .await?;
    tx.commit().await?;
    out.position = store.position(account).await?.into();
    Ok(out)
}

async fn check_balances(tx: &mut StoreTx, account: &str, out: &mut Outcome, raised: &mut Vec<NewException>) -> Result<(), StoreError> {
    let statements = tx.statements_of(account).await?;
    out.statements = statements.len() as u64;
    let mut prev: Option<&crate::store::StatementRow> = None;
    for s in &statements {
        if let (Some(o), Some(c), Some(cr), Some(db)) = (s.opening_fen, s.closing_fen, s.credits_fen, s.debits_fen)
            && o + cr - db != c
        {
            out.balance_breaks += 1;
            raised.push(ex(
                ExceptionKind::BalanceBreak,
                Some(c - (o + cr - db)),
                None,
                format!(
                    "对账单 {}: 期末余额 {} ≠ 期初 {} + 贷方 {} − 借方 {} = {}",
                    s.statement_id,
                    Fen(c),
                    Fen(o),
                    Fen(cr),
                    Fen(db),
                    Fen(o + cr - db)
                ),
                s.statement_id.to_string(),
            ));
        }
        if let Some(p) = prev {
            let (pto, sfrom) = (date(&p.to_date), date(&s.from_date));
            let follows = matches!((pto, sfrom), (Some(a), Some(b)) if b > a);
            if follows
                && let (Some(pc), Some(so)) = (p.closing_fen, s.opening_fen)
                && pc != so
            {
                out.balance_breaks += 1;
                raised.push(ex(
                    ExceptionKind::BalanceBreak,
                    Some(so - pc),
                    None,
                    format!("对账单 {} 的期初余额 {} ≠ 上一对账单 {} 的期末余额 {}", s.statement_id, Fen(so), p.statement_id, Fen(pc)),
                    format!("{}->{}", p.statement_id, s.statement_id),
                ));
            }
            if let (Some(a), Some(b)) = (pto, sfrom)
                && b > a + chrono::Duration::days(1)
            {
                let first = a + chrono::Duration::days(1);
                let last = b - chrono::Duration::days(1);
                out.missing_days.push(if first == last { first.to_string() } else { format!("{first}..{last}") });
            }
        }
        if prev.is_none_or(|p| date(&s.to_date) >= date(&p.to_date)) {
            prev = Some(s);
        }
    }
    Ok(())
}

async fn debit(tx: &mut StoreTx, cfg: &Config, e: &EntryRow, out: &mut Outcome, raised: &mut Vec<NewException>) -> Result<(), StoreError> {
    let account = cfg.account.number.as_str();
    let details = tx.entry_details(e.id).await?;
    let detail_refs: Vec<String> = details.iter().filter_map(|d| d.end_to_end_id.clone()).collect();

    // Which batch: the id the bank repeats, else the references in the details, else the amount.
    let mut batch = match &e.batch_ref {
        Some(b) => tx.batch_by_id(b).await?.filter(|b| b.account_no == account),
        None => None,
    };
    if batch.is_none() && !detail_refs.is_empty() {
        let known = tx.payments_money(&detail_refs[..1]).await?;
        if let Some(b) = known.values().filter(|p| p.account_no == account).find_map(|p| p.batch_id.clone()) {
            batch = tx.batch_by_id(&b).await?.filter(|b| b.account_no == account);
        }
    }
    if batch.is_none() {
        let booked = date(&e.booking_date);
        let mut candidates = Vec::new();
        for b in tx.batches_in(account, &[BatchStatus::Delivered]).await? {
            let exec = NaiveDate::parse_from_str(&b.execution_date, "%Y-%m-%d").ok();
            let near = match (exec, booked) {
                (Some(x), Some(d)) => (d - x).num_days().abs() <= cfg.reconcile.debit_match_days,
                _ => true,
            };
            if near && expected(tx, cfg, &b).await?.0 == e.amount_fen {
                candidates.push(b);
            }
        }
        if candidates.len() == 1 {
            batch = candidates.pop();
        }
    }
    let Some(b) = batch else {
        out.unknown_debits += 1;
        raised.push(ex(
            ExceptionKind::UnknownDebit,
            Some(e.amount_fen),
            None,
            format!(
                "专户 {} 支出 {} 元（对账单 {}，{}）与本系统发出的任何批次都不符{}",
                e.booking_date.as_deref().unwrap_or("-"),
                Fen(e.amount_fen),
                e.statement_id,
                entry_words(e),
                e.info.as_deref().map(|i| format!("；摘要: {i}")).unwrap_or_default()
            ),
            finding(account, e).to_string(),
        ));
        return Ok(());
    };
    if b.status == BatchStatus::Debited {
        out.mismatches += 1;
        raised.push(ex(
            ExceptionKind::BatchDebitMismatch,
            Some(e.amount_fen),
            None,
            format!("批次 {} 再次扣款 {} 元（{}）：已有一笔扣款与之匹配", b.batch_id, Fen(e.amount_fen), entry_words(e)),
            format!("{}:{}", b.batch_id, finding(account, e)),
        ));
        return Ok(());
    }
    let (want, open, gross) = expected(tx, cfg, &b).await?;
    if want != e.amount_fen {
        out.mismatches += 1;
        let how = if gross { "全额（gross）" } else { "成功笔数合计（net）" };
        let pending = if open > 0 { format!("；另有 {open} 笔尚无最终回执") } else { String::new() };
        raised.push(ex(
            ExceptionKind::BatchDebitMismatch,
            Some(e.amount_fen - want),
            None,
            format!("批次 {} 扣款 {} 元，应为{} {} 元{pending}", b.batch_id, Fen(e.amount_fen), how, Fen(want)),
            format!("{}:{}", b.batch_id, finding(account, e)),
        ));
    }
    // Per-transaction details, when sent, must be payments of this batch with their amounts.
    if !details.is_empty() {
        let payments = tx.batch_money(&b.batch_id).await?;
        let wrong: Vec<String> = details
            .iter()
            .filter(|d| match &d.end_to_end_id {
                Some(r) => !payments.iter().any(|p| &p.payment_ref == r && d.amount_fen.is_none_or(|a| a == p.amount_fen)),
                None => false,
            })
            .filter_map(|d| d.end_to_end_id.clone())
            .collect();
        if !wrong.is_empty() {
            out.mismatches += 1;
            raised.push(ex(
                ExceptionKind::BatchDebitMismatch,
                Some(e.amount_fen),
                None,
                format!("批次 {} 扣款明细中 {} 笔与发出的支付不符: {}", b.batch_id, wrong.len(), wrong.join(", ")),
                format!("{}:details:{}", b.batch_id, finding(account, e)),
            ));
        }
    }
    // The money of these payments has left the account.
    tx.set_money_out_of_batch(&b.batch_id, gross).await?;
    tx.set_batch_status(&b.batch_id, BatchStatus::Debited).await?;
    tx.mark_entry(e.id, &format!("batch:{}", b.batch_id)).await?;
    out.batch_debits_matched += 1;
    Ok(())
}

/// What the debit of a batch should be: (amount, payments without a final status, gross?).
async fn expected(tx: &mut StoreTx, cfg: &Config, b: &crate::store::BatchRow) -> Result<(i64, usize, bool), StoreError> {
    let gross = cfg.bank(&b.profile).is_none_or(|p| p.gross);
    if gross {
        return Ok((b.ctrl_sum_fen, 0, true));
    }
    let payments = tx.batch_money(&b.batch_id).await?;
    let sum = payments.iter().filter(|p| matches!(p.status, PaymentStatus::Settled | PaymentStatus::Returned)).map(|p| p.amount_fen).sum();
    let open = payments.iter().filter(|p| matches!(p.status, PaymentStatus::Created | PaymentStatus::Sent | PaymentStatus::Accepted)).count();
    Ok((sum, open, false))
}

/// Open entries read at a time; for credits also those looked at together: their details and
/// the payments these name are read in two statements, and what they match is written back in
/// two more.
const ENTRY_PAGE: usize = 5000;

/// What a chunk of credit entries refers to, read ahead.
struct Known {
    details: HashMap<i64, Vec<EntryDetail>>,
    payments: HashMap<String, PaymentMoney>,
}

impl Known {
    async fn load(tx: &mut StoreTx, entries: &[&EntryRow]) -> Result<Known, StoreError> {
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        let details = tx.details_of_entries(&ids).await?;
        let refs: Vec<String> = details.values().flatten().filter_map(|d| d.end_to_end_id.clone()).collect();
        let payments = tx.payments_money(&refs).await?;
        Ok(Known { details, payments })
    }
}

/// Return credits matched so far, to be written in bulk.
#[derive(Default)]
struct Matched {
    /// Payments whose money came back, not yet written.
    credit_back: Vec<String>,
    /// Every payment matched to a return credit in this run.
    backed: HashSet<String>,
    /// (entry id, what it matched), not yet written.
    marks: Vec<(i64, String)>,
    /// Failed payments whose money is out, read once when a credit without details needs them.
    failed_out: Option<Vec<PaymentMoney>>,
}

impl Matched {
    fn money_back(&mut self, payment_ref: &str) {
        self.credit_back.push(payment_ref.to_string());
        self.backed.insert(payment_ref.to_string());
    }

    async fn flush(&mut self, tx: &mut StoreTx) -> Result<(), StoreError> {
        tx.set_credit_back(&std::mem::take(&mut self.credit_back)).await?;
        tx.mark_entries(&std::mem::take(&mut self.marks)).await
    }
}

async fn credit(
    tx: &mut StoreTx,
    cfg: &Config,
    e: &EntryRow,
    known: &Known,
    matched: &mut Matched,
    out: &mut Outcome,
    raised: &mut Vec<NewException>,
) -> Result<(), StoreError> {
    let account = cfg.account.number.as_str();
    let details = known.details.get(&e.id).map(Vec::as_slice).unwrap_or_default();
    let refs: Vec<String> = details.iter().filter_map(|d| d.end_to_end_id.clone()).collect();
    let allocation = e.counterpart.as_ref().is_some_and(|c| cfg.reconcile.allocation_accounts.iter().any(|a| a == c));
    if allocation {
        matched.marks.push((e.id, "allocation".into()));
        out.allocations += 1;
        return Ok(());
    }
    if !refs.is_empty() {
        let failed: Vec<&String> =
            // Only this account's payments: another district's payment named here is not ours to credit.
            refs.iter()
                .filter(|r| known.payments.get(*r).is_some_and(|p| p.account_no == account && p.status.is_failed()))
                .collect();
        if !failed.is_empty() && failed.len() == refs.len() {
            for r in &failed {
                matched.money_back(r);
            }
            matched.marks.push((e.id, format!("return:{}", failed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","))));
            out.returns_matched += 1;
            return Ok(());
        }
    } else {
        // No details: a unique failed payment of that amount whose money is out.
        if matched.failed_out.is_none() {
            matched.failed_out = Some(tx.failed_money_out(&cfg.account.number).await?);
        }
        let candidates: Vec<String> = matched
            .failed_out
            .iter()
            .flatten()
            .filter(|p| p.amount_fen == e.amount_fen && !p.credit_back && !matched.backed.contains(&p.payment_ref))
            .map(|p| p.payment_ref.clone())
            .collect();
        if let [only] = candidates.as_slice() {
            matched.money_back(only);
            matched.marks.push((e.id, format!("return:{only}")));
            out.returns_matched += 1;
            return Ok(());
        }
    }
    out.unmatched_credits += 1;
    raised.push(ex(
        ExceptionKind::UnmatchedReturnCredit,
        Some(e.amount_fen),
        refs.first().cloned(),
        format!(
            "专户 {} 收入 {} 元（对账单 {}，{}{}）既不是财政拨付，也对应不上失败的支付",
            e.booking_date.as_deref().unwrap_or("-"),
            Fen(e.amount_fen),
            e.statement_id,
            entry_words(e),
            if refs.is_empty() { String::new() } else { format!("，支付流水号 {}", refs.join(", ")) }
        ),
        finding(account, e).to_string(),
    ));
    Ok(())
}

async fn not_credited(tx: &mut StoreTx, cfg: &Config, out: &mut Outcome, raised: &mut Vec<NewException>) -> Result<(), StoreError> {
    let cutoff = (crate::clock::now() - chrono::Duration::days(cfg.reconcile.return_days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    for p in tx.failed_money_out(&cfg.account.number).await? {
        if p.updated_at < cutoff {
            out.returns_not_credited += 1;
            raised.push(
                NewException::new(
                    ExceptionKind::ReturnNotCredited,
                    &p.payment_ref,
                    format!("支付 {}（{}）失败已超过 {} 天，款项仍未退回专户", p.payment_ref, p.status.label_zh(), cfg.reconcile.return_days),
                )
                .grant(p.grant_id.clone())
                .payment(Some(p.payment_ref.clone()))
                .amount(Some(p.amount_fen)),
            );
        }
    }
    Ok(())
}
