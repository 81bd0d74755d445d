//! The simulated bank's account reports on the special account (资助专户): ISO 20022
//! **camt.053** statements (`.001.02`, `.001.08`) and **camt.054** debit/credit notifications
//! (`.001.02`, `.001.08`).
//!
//! # What a real bank sends, and when
//!
//! - A **camt.054** soon after a booking: "your account was debited/credited", one entry per
//!   booking. For a batch, one debit entry with the batch's `PmtInfId`, count and total under
//!   `NtryDtls/Btch`, usually with the per-payment `TxDtls` (each with its `EndToEndId`).
//! - A **camt.053** at the end of the day (or period): the opening booked balance (OPBD), every
//!   booked entry, and the closing booked balance (CLBD) — which must equal opening + credits −
//!   debits; a statement where it does not is a "balance break" aidpay must flag.
//!
//! # Gross and net booking of a batch
//!
//! Banks book a batch in one of two ways, and aidpay's profile says which:
//! - **gross**: the whole batch total is debited at once; each payment that then fails comes
//!   back as its own **return credit** (退票, `BkTxCd` PMNT/ICDT/RRTN, `TxDtls/RtrInf/Rsn/Cd`
//!   with the reason and `Refs/EndToEndId` of the original payment);
//! - **net**: only the sum of the payments that went through is debited; a refused payment never
//!   leaves the account, so there is nothing to return.
//!
//! Either way, a payment that is returned *after* it was reported paid (a late 退票) comes back
//! as a return credit on a **later** statement ([`late_return_credits`]). Fiscal allocations
//! (财政拨付) come in as credits (PMNT/RCDT); a debit matching no batch ([`SimEntry::OtherDebit`])
//! is what misuse of the account would look like.
//!
//! [`statement_for`] builds the natural statement for what the bank executed; the writers take
//! any [`StatementSpec`], so a test can also build a wrong one on purpose (a debit that matches
//! nothing, a batch debit with only some of its details, a corrupt closing balance via
//! [`StatementSpec::break_balance`]). Every document is validated against its XSD in the tests.
//!
//! # Banks as they really are
//!
//! [`camt053_as`] and [`camt054_as`] write the same documents the way some real banks do
//! ([`BankHabits`]): references that repeat (a return credit under its batch debit's
//! `AcctSvcrRef`, or one reference for everything), another currency, no `Acct` at all (an
//! excerpt), entries listed but not booked (`PDNG`, `INFO`), balances without `CdtDbtInd`. A
//! statement for a foreign account is just a [`StatementSpec`] with another `account_no`.

use super::answers::Fate;
use super::batch_reader::{SimBatch, SimPayment};
use super::xml::{Xml, iso_date_time, max_text};
use crate::domain::Fen;
use crate::domain::reason::describe_zh;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};

/// The camt.053 version the bank sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Camt053Version {
    /// `camt.053.001.02` (2009, the most common).
    #[default]
    V02,
    /// `camt.053.001.08` (2019).
    V08,
}

impl Camt053Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Camt053Version::V02 => "camt.053.001.02",
            Camt053Version::V08 => "camt.053.001.08",
        }
    }
}

/// The camt.054 version the bank sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Camt054Version {
    /// `camt.054.001.02`.
    #[default]
    V02,
    /// `camt.054.001.08`.
    V08,
}

impl Camt054Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Camt054Version::V02 => "camt.054.001.02",
            Camt054Version::V08 => "camt.054.001.08",
        }
    }
}

/// How the bank books a batch on the account (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Booking {
    /// The whole batch debited; failed payments credited back one by one.
    #[default]
    Gross,
    /// Only the payments that went through debited.
    Net,
}

/// One payment inside a batch debit's details (`TxDtls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryTx {
    pub end_to_end_id: String,
    pub amount: Fen,
    pub card_number: String,
    pub holder: String,
}

impl From<&SimPayment> for EntryTx {
    fn from(p: &SimPayment) -> Self {
        EntryTx {
            end_to_end_id: p.end_to_end_id.clone(),
            amount: p.amount,
            card_number: p.card_number.clone(),
            holder: p.holder.clone(),
        }
    }
}

/// One booked entry on the special account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEntry {
    /// A fiscal allocation (财政拨付) into the account: a credit.
    Allocation { amount: Fen, counterpart_account: String, counterpart_name: String, date: NaiveDate },
    /// A batch debit: `amount` is the whole batch (gross) or the settled part (net). `details`
    /// are the `TxDtls` written — all, some, or none (empty) of the batch's payments.
    BatchDebit { batch_id: String, amount: Fen, nb_of_txs: usize, date: NaiveDate, details: Vec<EntryTx> },
    /// A payment's money coming back (退票): a credit with the return reason and the original
    /// end-to-end id (and batch, when known).
    ReturnCredit { end_to_end_id: String, batch_id: Option<String>, amount: Fen, reason_code: String, date: NaiveDate },
    /// A debit that belongs to no batch (possible misuse of the account).
    OtherDebit { amount: Fen, date: NaiveDate, text: String },
}

impl SimEntry {
    pub fn is_credit(&self) -> bool {
        matches!(self, SimEntry::Allocation { .. } | SimEntry::ReturnCredit { .. })
    }

    pub fn amount(&self) -> Fen {
        match self {
            SimEntry::Allocation { amount, .. }
            | SimEntry::BatchDebit { amount, .. }
            | SimEntry::ReturnCredit { amount, .. }
            | SimEntry::OtherDebit { amount, .. } => *amount,
        }
    }

    pub fn date(&self) -> NaiveDate {
        match self {
            SimEntry::Allocation { date, .. }
            | SimEntry::BatchDebit { date, .. }
            | SimEntry::ReturnCredit { date, .. }
            | SimEntry::OtherDebit { date, .. } => *date,
        }
    }

    /// The amount with its sign on the account: + for a credit, − for a debit.
    pub fn signed(&self) -> i64 {
        if self.is_credit() { self.amount().0 } else { -self.amount().0 }
    }
}

/// A statement to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementSpec {
    pub account_no: String,
    pub account_name: Option<String>,
    /// `Stmt/Id` and `GrpHdr/MsgId` (≤ 35 characters).
    pub statement_id: String,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    /// The opening booked balance (negative: overdrawn).
    pub opening: Fen,
    pub entries: Vec<SimEntry>,
    /// Added to the closing balance as written, to corrupt it on purpose; `None` writes the
    /// true one.
    pub break_balance: Option<Fen>,
}

impl StatementSpec {
    pub fn credits(&self) -> Fen {
        self.entries.iter().filter(|e| e.is_credit()).map(SimEntry::amount).sum()
    }

    pub fn debits(&self) -> Fen {
        self.entries.iter().filter(|e| !e.is_credit()).map(SimEntry::amount).sum()
    }

    /// The true closing balance: opening + credits − debits.
    pub fn closing(&self) -> Fen {
        Fen(self.opening.0 + self.credits().0 - self.debits().0)
    }

    /// The closing balance as written: [`closing`](Self::closing) plus `break_balance`.
    pub fn written_closing(&self) -> Fen {
        Fen(self.closing().0 + self.break_balance.map_or(0, |b| b.0))
    }
}

/// A debit/credit notification to write (camt.054): no balances, just entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSpec {
    pub account_no: String,
    pub account_name: Option<String>,
    /// `Ntfctn/Id` and `GrpHdr/MsgId`.
    pub notification_id: String,
    pub entries: Vec<SimEntry>,
}

/// How the bank's `AcctSvcrRef`s are given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum References {
    /// One per booking (the same booking has the same one in a camt.054 and the camt.053).
    #[default]
    Unique,
    /// A return credit (退票) carries the reference of its batch's debit, as banks that book
    /// the return against the original do.
    ReturnsReuseOriginal,
    /// Every entry the same reference (a bank that books a day's collection under one).
    All(String),
}

/// Why an entry is listed but not booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotBooked {
    /// `PDNG`: pending, may be booked later.
    Pending,
    /// `INFO`: information only.
    Info,
}

impl NotBooked {
    fn code(self) -> &'static str {
        match self {
            NotBooked::Pending => "PDNG",
            NotBooked::Info => "INFO",
        }
    }
}

/// How the bank departs from the plain documents (the default writes them plainly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankHabits {
    /// The currency written (`Acct/Ccy` and every `Ccy`); `None`: CNY.
    pub currency: Option<String>,
    /// No `Acct` at all: an excerpt naming no account.
    pub without_account: bool,
    pub references: References,
    /// Entries listed after the booked ones but not booked; balances and sums ignore them.
    pub not_booked: Vec<(SimEntry, NotBooked)>,
    /// Balances without their `CdtDbtInd` (read as stated).
    pub unsigned_balances: bool,
}

/// The statement's frame (everything but the entries) for [`statement_for`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementOptions {
    pub account_no: String,
    pub account_name: Option<String>,
    pub statement_id: String,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    /// Whether batch debits carry their per-payment `TxDtls`.
    pub with_details: bool,
    /// Whether the late returns ([`Fate::LateReturn`]) are credited in this statement (else they
    /// belong in a later one: [`late_return_credits`]).
    pub late_returns: bool,
}

/// The natural statement for what the bank executed: per answered batch a debit (the whole
/// batch under [`Booking::Gross`], only the payments that went through under [`Booking::Net`];
/// none when nothing went through net), under gross a return credit for each rejected payment,
/// and, if asked, the late returns. Entries are dated by the batch's execution date (kept within
/// the statement's period), late returns by `to_date`.
pub fn statement_for(
    answered: &[(SimBatch, Vec<(SimPayment, Fate)>)],
    opening: Fen,
    booking: Booking,
    opts: &StatementOptions,
) -> StatementSpec {
    let mut entries = Vec::new();
    for (batch, fates) in answered {
        let date = batch.execution_date.unwrap_or(opts.from_date).max(opts.from_date).min(opts.to_date);
        let debited: Vec<&SimPayment> = match booking {
            Booking::Gross => fates.iter().map(|(p, _)| p).collect(),
            Booking::Net => fates.iter().filter(|(_, f)| f.settled_first()).map(|(p, _)| p).collect(),
        };
        if !debited.is_empty() {
            entries.push(SimEntry::BatchDebit {
                batch_id: batch.pmt_inf_id.clone(),
                amount: debited.iter().map(|p| p.amount).sum(),
                nb_of_txs: debited.len(),
                date,
                details: if opts.with_details {
                    debited.iter().map(|p| EntryTx::from(*p)).collect()
                } else {
                    Vec::new()
                },
            });
        }
        if booking == Booking::Gross {
            for (p, fate) in fates {
                if let Fate::Reject(reason) = fate {
                    entries.push(return_credit(batch, p, &reason.code, date));
                }
            }
        }
    }
    if opts.late_returns {
        entries.extend(late_return_credits(answered, opts.to_date));
    }
    StatementSpec {
        account_no: opts.account_no.clone(),
        account_name: opts.account_name.clone(),
        statement_id: opts.statement_id.clone(),
        from_date: opts.from_date,
        to_date: opts.to_date,
        opening,
        entries,
        break_balance: None,
    }
}

/// The return credits for the late returns of the answered batches, dated `date`: what a later
/// statement (or a camt.054) carries.
pub fn late_return_credits(answered: &[(SimBatch, Vec<(SimPayment, Fate)>)], date: NaiveDate) -> Vec<SimEntry> {
    answered
        .iter()
        .flat_map(|(batch, fates)| {
            fates.iter().filter_map(move |(p, f)| match f {
                Fate::LateReturn(reason) => Some(return_credit(batch, p, &reason.code, date)),
                _ => None,
            })
        })
        .collect()
}

fn return_credit(batch: &SimBatch, p: &SimPayment, code: &str, date: NaiveDate) -> SimEntry {
    SimEntry::ReturnCredit {
        end_to_end_id: p.end_to_end_id.clone(),
        batch_id: Some(batch.pmt_inf_id.clone()),
        amount: p.amount,
        reason_code: code.to_string(),
        date,
    }
}

/// Which of the two schema generations the entries are written in: `.02` (2009) or `.08`
/// (2019). They differ in `Sts` (a code vs a choice), in where a transaction's amount goes
/// (`AmtDtls/TxAmt/Amt` vs `Amt` + `CdtDbtInd`) and in related parties (`Nm` vs `Pty/Nm`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gen {
    V02,
    V08,
}

/// `Max35Text`, `Max70Text`, `Max140Text`, `Max500Text`.
const MAX_35: usize = 35;
const MAX_70: usize = 70;
const MAX_140: usize = 140;
const MAX_500: usize = 500;

/// Writes `spec` as a camt.053 statement.
pub fn camt053(spec: &StatementSpec, version: Camt053Version, created_at: &DateTime<FixedOffset>) -> Vec<u8> {
    camt053_as(spec, version, created_at, &BankHabits::default())
}

/// Writes `spec` as a camt.053 statement the way a bank with these `habits` does.
pub fn camt053_as(spec: &StatementSpec, version: Camt053Version, created_at: &DateTime<FixedOffset>, habits: &BankHabits) -> Vec<u8> {
    let schema = match version {
        Camt053Version::V02 => Gen::V02,
        Camt053Version::V08 => Gen::V08,
    };
    let w = Writer { schema, habits };
    let mut x = Xml::document(&format!("urn:iso:std:iso:20022:tech:xsd:{}", version.as_str()));
    x.start("BkToCstmrStmt");
    group_header(&mut x, &spec.statement_id, created_at);
    x.start("Stmt");
    report_head(
        &mut x,
        &w,
        &spec.statement_id,
        created_at,
        Some((spec.from_date, spec.to_date)),
        &spec.account_no,
        spec.account_name.as_deref(),
    );
    balance(&mut x, &w, "OPBD", spec.opening, spec.from_date);
    balance(&mut x, &w, "CLBD", spec.written_closing(), spec.to_date);
    entries(&mut x, &w, &spec.entries);
    x.end("Stmt");
    x.end("BkToCstmrStmt");
    x.finish_with_currency(habits.currency.as_deref())
}

/// Writes `spec` as a camt.054 debit/credit notification.
pub fn camt054(spec: &NotificationSpec, version: Camt054Version, created_at: &DateTime<FixedOffset>) -> Vec<u8> {
    camt054_as(spec, version, created_at, &BankHabits::default())
}

/// Writes `spec` as a camt.054 notification the way a bank with these `habits` does.
pub fn camt054_as(spec: &NotificationSpec, version: Camt054Version, created_at: &DateTime<FixedOffset>, habits: &BankHabits) -> Vec<u8> {
    let schema = match version {
        Camt054Version::V02 => Gen::V02,
        Camt054Version::V08 => Gen::V08,
    };
    let w = Writer { schema, habits };
    let mut x = Xml::document(&format!("urn:iso:std:iso:20022:tech:xsd:{}", version.as_str()));
    x.start("BkToCstmrDbtCdtNtfctn");
    group_header(&mut x, &spec.notification_id, created_at);
    x.start("Ntfctn");
    report_head(&mut x, &w, &spec.notification_id, created_at, None, &spec.account_no, spec.account_name.as_deref());
    entries(&mut x, &w, &spec.entries);
    x.end("Ntfctn");
    x.end("BkToCstmrDbtCdtNtfctn");
    x.finish_with_currency(habits.currency.as_deref())
}

/// The schema generation and the bank's habits, for every part written.
struct Writer<'a> {
    schema: Gen,
    habits: &'a BankHabits,
}

fn group_header(x: &mut Xml, msg_id: &str, created_at: &DateTime<FixedOffset>) {
    x.start("GrpHdr");
    x.leaf("MsgId", msg_id);
    x.date_time("CreDtTm", created_at);
    x.end("GrpHdr");
}

/// `Id`, `CreDtTm`, `FrToDt` (whole days in `created_at`'s offset) and `Acct`.
fn report_head(
    x: &mut Xml,
    w: &Writer<'_>,
    id: &str,
    created_at: &DateTime<FixedOffset>,
    period: Option<(NaiveDate, NaiveDate)>,
    account_no: &str,
    account_name: Option<&str>,
) {
    x.leaf("Id", id);
    x.date_time("CreDtTm", created_at);
    if let Some((from, to)) = period {
        let offset = *created_at.offset();
        let at = |d: NaiveDate, t: NaiveTime| d.and_time(t).and_local_timezone(offset).single();
        if let (Some(start), Some(end)) =
            (at(from, NaiveTime::MIN), at(to, NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)))
        {
            x.start("FrToDt");
            x.leaf("FrDtTm", &iso_date_time(&start));
            x.leaf("ToDtTm", &iso_date_time(&end));
            x.end("FrToDt");
        }
    }
    if w.habits.without_account {
        return;
    }
    x.start("Acct");
    x.account_id(account_no);
    x.leaf("Ccy", "CNY");
    if let Some(name) = account_name.and_then(|n| max_text(n, MAX_70)) {
        x.leaf("Nm", name);
    }
    x.end("Acct");
}

/// A `Bal` of type `code` (OPBD, CLBD): the amount unsigned, its sign in `CdtDbtInd`.
fn balance(x: &mut Xml, w: &Writer<'_>, code: &str, amount: Fen, date: NaiveDate) {
    x.start("Bal");
    x.start("Tp");
    x.start("CdOrPrtry");
    x.leaf("Cd", code);
    x.end("CdOrPrtry");
    x.end("Tp");
    x.amount("Amt", amount);
    if !w.habits.unsigned_balances {
        x.leaf("CdtDbtInd", if amount.0 < 0 { "DBIT" } else { "CRDT" });
    }
    x.start("Dt");
    x.date("Dt", date);
    x.end("Dt");
    x.end("Bal");
}

/// `TxsSummry` (credits and debits: count and sum of the booked entries), then every `Ntry`,
/// then the entries not booked.
fn entries(x: &mut Xml, w: &Writer<'_>, list: &[SimEntry]) {
    if !list.is_empty() {
        x.start("TxsSummry");
        for (name, credit) in [("TtlCdtNtries", true), ("TtlDbtNtries", false)] {
            let these = list.iter().filter(|e| e.is_credit() == credit);
            x.start(name);
            x.leaf("NbOfNtries", &these.clone().count().to_string());
            x.decimal("Sum", these.map(SimEntry::amount).sum());
            x.end(name);
        }
        x.end("TxsSummry");
    }
    let refs = |i: usize, e: &SimEntry| match &w.habits.references {
        References::Unique => entry_ref(e, i),
        References::ReturnsReuseOriginal => match e {
            SimEntry::ReturnCredit { batch_id: Some(b), .. } => {
                max_text(&format!("BD{b}"), MAX_35).unwrap_or("NOTPROVIDED").to_string()
            }
            other => entry_ref(other, i),
        },
        References::All(r) => r.clone(),
    };
    for (i, entry) in list.iter().enumerate() {
        write_entry(x, w.schema, entry, &refs(i + 1, entry), "BOOK");
    }
    for (i, (entry, why)) in w.habits.not_booked.iter().enumerate() {
        let n = list.len() + i + 1;
        write_entry(x, w.schema, entry, &refs(n, entry), why.code());
    }
}

/// The bank's own reference for an entry: the same booking gets the same reference in a
/// camt.054 and in the camt.053 (batch debits and returns are keyed by their batch or
/// reference; allocations and other debits by date and position).
fn entry_ref(entry: &SimEntry, n: usize) -> String {
    let raw = match entry {
        SimEntry::BatchDebit { batch_id, .. } => format!("BD{batch_id}"),
        SimEntry::ReturnCredit { end_to_end_id, .. } => format!("RT{end_to_end_id}"),
        SimEntry::Allocation { date, .. } => format!("AL{}{n:06}", date.format("%Y%m%d")),
        SimEntry::OtherDebit { date, .. } => format!("OD{}{n:06}", date.format("%Y%m%d")),
    };
    max_text(&raw, MAX_35).unwrap_or("NOTPROVIDED").to_string()
}

fn write_entry(x: &mut Xml, schema: Gen, entry: &SimEntry, reference: &str, status: &str) {
    let credit = entry.is_credit();
    x.start("Ntry");
    x.amount("Amt", entry.amount());
    x.leaf("CdtDbtInd", if credit { "CRDT" } else { "DBIT" });
    match schema {
        Gen::V02 => x.leaf("Sts", status),
        Gen::V08 => {
            x.start("Sts");
            x.leaf("Cd", status);
            x.end("Sts");
        }
    }
    for name in ["BookgDt", "ValDt"] {
        x.start(name);
        x.date("Dt", entry.date());
        x.end(name);
    }
    x.leaf("AcctSvcrRef", reference);
    let (family, sub_family) = match entry {
        SimEntry::Allocation { .. } => ("RCDT", "DMCT"),
        SimEntry::BatchDebit { .. } => ("ICDT", "ESCT"),
        SimEntry::ReturnCredit { .. } => ("ICDT", "RRTN"),
        SimEntry::OtherDebit { .. } => ("ICDT", "DMCT"),
    };
    x.bank_transaction_code("PMNT", family, sub_family);

    let text = match entry {
        SimEntry::Allocation { counterpart_account, counterpart_name, amount, .. } => {
            x.start("NtryDtls");
            x.start("TxDtls");
            tx_amount(x, schema, *amount, "CRDT");
            x.start("RltdPties");
            party(x, schema, "Dbtr", counterpart_name);
            x.start("DbtrAcct");
            x.account_id(counterpart_account);
            x.end("DbtrAcct");
            x.end("RltdPties");
            x.end("TxDtls");
            x.end("NtryDtls");
            "财政拨付".to_string()
        }
        SimEntry::BatchDebit { batch_id, amount, nb_of_txs, details, .. } => {
            x.start("NtryDtls");
            x.start("Btch");
            x.leaf("PmtInfId", batch_id);
            x.leaf("NbOfTxs", &nb_of_txs.to_string());
            x.amount("TtlAmt", *amount);
            x.leaf("CdtDbtInd", "DBIT");
            x.end("Btch");
            for tx in details {
                x.start("TxDtls");
                refs(x, Some(batch_id), &tx.end_to_end_id);
                tx_amount(x, schema, tx.amount, "DBIT");
                x.start("RltdPties");
                if !tx.holder.trim().is_empty() {
                    party(x, schema, "Cdtr", &tx.holder);
                }
                x.start("CdtrAcct");
                x.account_id(&tx.card_number);
                x.end("CdtrAcct");
                x.end("RltdPties");
                x.end("TxDtls");
            }
            x.end("NtryDtls");
            format!("批量代发 {batch_id}")
        }
        SimEntry::ReturnCredit { end_to_end_id, batch_id, amount, reason_code, .. } => {
            x.start("NtryDtls");
            x.start("TxDtls");
            refs(x, batch_id.as_deref(), end_to_end_id);
            tx_amount(x, schema, *amount, "CRDT");
            x.start("RtrInf");
            x.start("Rsn");
            x.leaf("Cd", reason_code);
            x.end("Rsn");
            x.leaf("AddtlInf", describe_zh(reason_code));
            x.end("RtrInf");
            x.end("TxDtls");
            x.end("NtryDtls");
            format!("退票 {end_to_end_id}")
        }
        SimEntry::OtherDebit { text, .. } => text.clone(),
    };
    if let Some(text) = max_text(&text, MAX_500) {
        x.leaf("AddtlNtryInf", text);
    }
    x.end("Ntry");
}

/// `Refs` with the batch's `PmtInfId` and the payment's `EndToEndId`.
fn refs(x: &mut Xml, pmt_inf_id: Option<&str>, end_to_end_id: &str) {
    x.start("Refs");
    if let Some(id) = pmt_inf_id {
        x.leaf("PmtInfId", id);
    }
    x.leaf("EndToEndId", end_to_end_id);
    x.end("Refs");
}

/// A transaction's amount: `AmtDtls/TxAmt/Amt` in .02, `Amt` + `CdtDbtInd` in .08.
fn tx_amount(x: &mut Xml, schema: Gen, amount: Fen, indicator: &str) {
    match schema {
        Gen::V02 => {
            x.start("AmtDtls");
            x.start("TxAmt");
            x.amount("Amt", amount);
            x.end("TxAmt");
            x.end("AmtDtls");
        }
        Gen::V08 => {
            x.amount("Amt", amount);
            x.leaf("CdtDbtInd", indicator);
        }
    }
}

/// A related party's name: `Nm` in .02, `Pty/Nm` in .08.
fn party(x: &mut Xml, schema: Gen, role: &str, name: &str) {
    let Some(name) = max_text(name, MAX_140) else {
        return;
    };
    x.start(role);
    match schema {
        Gen::V02 => x.leaf("Nm", name),
        Gen::V08 => {
            x.start("Pty");
            x.leaf("Nm", name);
            x.end("Pty");
        }
    }
    x.end(role);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banksim::answers::tests::batch;
    use crate::banksim::answers::{AnswerMix, Reason, decide};
    use crate::formats::xml::schema::assert_valid;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn at() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .and_then(|tz| tz.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).single())
            .unwrap_or_default()
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default()
    }

    fn opts(id: &str) -> StatementOptions {
        StatementOptions {
            account_no: "6501020100012345678".into(),
            account_name: Some("某区学生资助管理中心 资助专户".into()),
            statement_id: id.into(),
            from_date: day(25),
            to_date: day(25),
            with_details: true,
            late_returns: false,
        }
    }

    /// Two batches: B1 with a rejection and a late return, B2 all settled.
    fn answered() -> Vec<(SimBatch, Vec<(SimPayment, Fate)>)> {
        let b1 = batch("B20261125000001", 4);
        let mix = AnswerMix::settle_all()
            .with_reference("AP000000000002", Fate::Reject(Reason::name_mismatch()))
            .with_reference("AP000000000003", Fate::LateReturn(Reason::closed()));
        let f1 = decide(&b1, &mix);
        let b2 = batch("B20261125000002", 2);
        let f2 = decide(&b2, &AnswerMix::default());
        vec![(b1, f1), (b2, f2)]
    }

    /// Every kind of entry, with and without details.
    fn full_spec() -> StatementSpec {
        let mut spec = statement_for(&answered(), Fen(10_000_000), Booking::Gross, &opts("STMT20261125"));
        spec.entries.insert(
            0,
            SimEntry::Allocation {
                amount: Fen(5_000_000),
                counterpart_account: "6501000000000000001".into(),
                counterpart_name: "某区财政局".into(),
                date: day(25),
            },
        );
        spec.entries.push(SimEntry::BatchDebit {
            batch_id: "B20261125000009".into(),
            amount: Fen(300),
            nb_of_txs: 3,
            date: day(25),
            details: Vec::new(),
        });
        spec.entries
            .push(SimEntry::OtherDebit { amount: Fen(123_456), date: day(25), text: "取现 & <其他>".into() });
        spec.entries.push(SimEntry::ReturnCredit {
            end_to_end_id: "AP000000000099".into(),
            batch_id: None,
            amount: Fen(1),
            reason_code: "AC01".into(),
            date: day(25),
        });
        spec
    }

    /// (code, signed fen) of each `Bal`, and the count of `Ntry`.
    fn balances(text: &str) -> (Vec<(String, i64)>, usize) {
        let mut reader = Reader::from_str(text);
        let (mut path, mut out, mut entries) = (Vec::<String>::new(), Vec::new(), 0);
        let (mut code, mut amount, mut value) = (String::new(), 0i64, String::new());
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    path.push(e.local_name().as_ref().to_string());
                    value.clear();
                }
                Ok(Event::Text(t)) => value.push_str(&t),
                Ok(Event::End(_)) => {
                    let tail: Vec<&str> = path.iter().rev().take(2).map(String::as_str).collect();
                    match tail.as_slice() {
                        ["Cd", "CdOrPrtry"] => code = value.clone(),
                        ["Amt", "Bal"] => {
                            amount = (Decimal::from_str(&value).unwrap_or_default() * Decimal::ONE_HUNDRED)
                                .try_into()
                                .unwrap_or(0)
                        }
                        ["CdtDbtInd", "Bal"] => {
                            out.push((code.clone(), if value == "DBIT" { -amount } else { amount }));
                        }
                        ["Ntry", _] => entries += 1,
                        _ => {}
                    }
                    path.pop();
                    value.clear();
                }
                Ok(Event::Eof) | Err(_) => break,
                _ => {}
            }
        }
        (out, entries)
    }

    #[test]
    fn statements_validate_in_both_versions() {
        let spec = full_spec();
        for v in [Camt053Version::V02, Camt053Version::V08] {
            let text = assert_valid(&camt053(&spec, v, &at()), &format!("{}.xsd", v.as_str()));
            assert!(text.contains("<PmtInfId>B20261125000001</PmtInfId>"));
            assert!(text.contains("<NbOfTxs>4</NbOfTxs>"));
            assert!(text.contains("<Cd>RRTN</Cd>") || text.contains("<SubFmlyCd>RRTN</SubFmlyCd>"));
            assert!(text.contains("<EndToEndId>AP000000000002</EndToEndId>"));
            assert!(text.contains("<Cd>BE01</Cd>"));
            assert!(text.contains("<SubFmlyCd>ESCT</SubFmlyCd>") && text.contains("<Cd>RCDT</Cd>"));
            assert!(text.contains("取现 &amp; &lt;其他&gt;"));
            let (bal, entries) = balances(&text);
            assert_eq!(entries, spec.entries.len());
            assert_eq!(bal, vec![("OPBD".to_string(), spec.opening.0), ("CLBD".to_string(), spec.closing().0)]);
        }
    }

    #[test]
    fn notifications_validate_in_both_versions() {
        let (b, f) = &answered()[0];
        let spec = NotificationSpec {
            account_no: "6501020100012345678".into(),
            account_name: None,
            notification_id: "NTF20261125000001".into(),
            entries: statement_for(&[(b.clone(), f.clone())], Fen(0), Booking::Net, &opts("x")).entries,
        };
        assert_eq!(spec.entries.len(), 1, "net: one debit, no returns");
        for v in [Camt054Version::V02, Camt054Version::V08] {
            let text = assert_valid(&camt054(&spec, v, &at()), &format!("{}.xsd", v.as_str()));
            assert_eq!(text.matches("<TxDtls>").count(), 3, "the three payments that went through");
            assert!(text.contains("<TtlAmt Ccy=\"CNY\">300.08</TtlAmt>"), "{text}");
            assert!(!text.contains("<Bal>"));
        }
    }

    #[test]
    fn gross_books_the_whole_batch_and_returns_the_rejected() {
        let a = answered();
        let spec = statement_for(&a, Fen(1_000_000), Booking::Gross, &opts("S1"));
        let debits: Vec<Fen> = spec.entries.iter().filter(|e| !e.is_credit()).map(SimEntry::amount).collect();
        assert_eq!(debits, vec![a[0].0.total(), a[1].0.total()]);
        let returns: Vec<&SimEntry> = spec.entries.iter().filter(|e| e.is_credit()).collect();
        assert_eq!(returns.len(), 1, "only the rejection; the late return comes later");
        assert!(
            matches!(returns[0], SimEntry::ReturnCredit { end_to_end_id, amount: Fen(10_002), reason_code, .. } if end_to_end_id == "AP000000000002" && reason_code == "BE01")
        );
        assert_eq!(spec.closing(), Fen(1_000_000 - a[0].0.total().0 - a[1].0.total().0 + 10_002));

        let later =
            statement_for(&a, spec.closing(), Booking::Gross, &StatementOptions { late_returns: true, ..opts("S2") });
        assert!(
            later.entries.iter().any(
                |e| matches!(e, SimEntry::ReturnCredit { end_to_end_id, .. } if end_to_end_id == "AP000000000003")
            )
        );
        assert_eq!(late_return_credits(&a, day(26)).len(), 1);
    }

    #[test]
    fn net_books_only_what_went_through() {
        let a = answered();
        let spec =
            statement_for(&a, Fen(1_000_000), Booking::Net, &StatementOptions { with_details: false, ..opts("S1") });
        let net_b1 = a[0].0.total().0 - 10_002;
        match &spec.entries[..] {
            [SimEntry::BatchDebit { amount, nb_of_txs: 3, details, .. }, SimEntry::BatchDebit { .. }] => {
                assert_eq!(amount.0, net_b1, "the late return was paid first, so it is in the debit");
                assert!(details.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(spec.closing(), Fen(1_000_000 - net_b1 - a[1].0.total().0));
        // Nothing went through: no debit at all.
        let b = batch("B3", 2);
        let f = decide(&b, &AnswerMix::default().with_random(crate::banksim::answers::RandomMix::rejections(1, 1.0)));
        assert!(statement_for(&[(b, f)], Fen(0), Booking::Net, &opts("S3")).entries.is_empty());
    }

    #[test]
    fn banks_as_they_really_are() {
        let spec = full_spec();
        let allocation = SimEntry::Allocation {
            amount: Fen(700),
            counterpart_account: "6501000000000000001".into(),
            counterpart_name: "某区财政局".into(),
            date: day(25),
        };
        let habits = BankHabits {
            references: References::ReturnsReuseOriginal,
            not_booked: vec![(allocation.clone(), NotBooked::Pending), (allocation, NotBooked::Info)],
            ..Default::default()
        };
        for v in [Camt053Version::V02, Camt053Version::V08] {
            let text = assert_valid(&camt053_as(&spec, v, &at(), &habits), &format!("{}.xsd", v.as_str()));
            // The return credit of AP…02 carries its batch debit's reference.
            assert_eq!(text.matches("<AcctSvcrRef>BDB20261125000001</AcctSvcrRef>").count(), 2, "{text}");
            assert!(text.contains("PDNG") && text.contains("INFO"));
            let (bal, entries) = balances(&text);
            assert_eq!(entries, spec.entries.len() + 2);
            assert_eq!(bal[1].1, spec.closing().0, "entries not booked move no balance");
        }
        let one = BankHabits { references: References::All("SAME".into()), currency: Some("EUR".into()), ..Default::default() };
        let text = assert_valid(&camt053_as(&spec, Camt053Version::V02, &at(), &one), "camt.053.001.02.xsd");
        assert_eq!(text.matches("<AcctSvcrRef>SAME</AcctSvcrRef>").count(), spec.entries.len());
        assert!(text.contains("<Ccy>EUR</Ccy>") && !text.contains("CNY"));
        // What real banks send against their own schema: no Acct, balances without their sign.
        let odd = BankHabits { without_account: true, unsigned_balances: true, ..Default::default() };
        let text = String::from_utf8(camt053_as(&spec, Camt053Version::V02, &at(), &odd)).unwrap_or_default();
        assert!(!text.contains("<Acct>"));
        let (_, events) = crate::formats::camt::read_all(text.as_bytes()).unwrap();
        let crate::formats::camt::CamtEvent::Statement(info) = &events[0] else { panic!("a statement first") };
        assert_eq!((info.account.as_deref(), info.warnings.len()), (None, 2));
        let n = NotificationSpec { account_no: "1".into(), account_name: None, notification_id: "N1".into(), entries: spec.entries.clone() };
        assert_valid(&camt054_as(&n, Camt054Version::V08, &at(), &habits), "camt.054.001.08.xsd");
    }

    #[test]
    fn break_balance_corrupts_only_the_closing_balance() {
        let mut spec = full_spec();
        spec.break_balance = Some(Fen(-1));
        let text = String::from_utf8(camt053(&spec, Camt053Version::V02, &at())).unwrap_or_default();
        let (bal, _) = balances(&text);
        assert_eq!(bal[1].1, spec.closing().0 - 1);
        assert_ne!(spec.written_closing(), spec.closing());
    }

    #[test]
    fn overdrawn_balances_are_written_as_debit() {
        let spec = StatementSpec {
            opening: Fen(-500),
            entries: vec![SimEntry::OtherDebit { amount: Fen(100), date: day(25), text: "x".into() }],
            ..full_spec()
        };
        let text = assert_valid(&camt053(&spec, Camt053Version::V08, &at()), "camt.053.001.08.xsd");
        assert_eq!(balances(&text).0, vec![("OPBD".to_string(), -500), ("CLBD".to_string(), -600)]);
    }

    proptest! {
        #[test]
        fn closing_is_opening_plus_credits_minus_debits(
            opening in -1_000_000_000i64..1_000_000_000,
            moves in prop::collection::vec((any::<bool>(), 1i64..100_000_000), 0..40),
            broken in prop::option::of(-1_000i64..1_000),
        ) {
            let entries: Vec<SimEntry> = moves.iter().map(|&(credit, fen)| if credit {
                SimEntry::Allocation { amount: Fen(fen), counterpart_account: "1".into(), counterpart_name: "财政".into(), date: day(25) }
            } else {
                SimEntry::OtherDebit { amount: Fen(fen), date: day(25), text: "x".into() }
            }).collect();
            let spec = StatementSpec { opening: Fen(opening), entries, break_balance: broken.map(Fen), ..full_spec() };
            let expected = opening + moves.iter().map(|&(c, f)| if c { f } else { -f }).sum::<i64>();
            prop_assert_eq!(spec.closing().0, expected);
            let text = String::from_utf8(camt053(&spec, Camt053Version::V02, &at())).unwrap_or_default();
            let (bal, _) = balances(&text);
            prop_assert_eq!(bal[1].1, expected + broken.unwrap_or(0));
        }
    }
}
