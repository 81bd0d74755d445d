//! ISO 20022 **camt.053** (BankToCustomerStatement) and **camt.054**
//! (BankToCustomerDebitCreditNotification) reader: the special account's statement and the
//! bank's booking notifications, streamed one entry at a time.
//!
//! Both messages are a group header and a list of accounts (`Stmt` in camt.053, `Ntfctn` in
//! camt.054) with booked entries (`Ntry`) of the same structure, so one reader takes both:
//! camt.053 `.001.02`, `.001.04`, `.001.08` and camt.054 `.001.02`, `.001.08` (and leniently
//! the versions between, which only add optional elements).
//!
//! # Events
//!
//! [`read`] calls back with [`CamtEvent::Statement`] once per `Stmt`/`Ntfctn`, as soon as its
//! header and balances are known (the schema puts `Bal` before `Ntry`; a notification has no
//! balances, an excerpt may have none: the vec is then empty), and then with
//! [`CamtEvent::Entry`] for each `Ntry` when it closes. An entry's transaction details are
//! collected into the entry — they are bounded by the batch size (≤ 40,000 for our batches;
//! [`MAX_DETAILS_PER_ENTRY`] is the hard limit) — but entries are never collected: a year of
//! statements reads in constant memory. The [`CamtSummary`] comes back at the end.
//!
//! # Field mapping (paths below `Stmt` or `Ntfctn`)
//!
//! | field | element(s) |
//! |---|---|
//! | [`StatementInfo::id`] | `Id` |
//! | [`StatementInfo::electronic_seq`] | `ElctrncSeqNb` (for gap checks) |
//! | [`StatementInfo::created`] | `CreDtTm` as written |
//! | [`StatementInfo::from`], [`StatementInfo::to`] | `FrToDt/FrDtTm`, `FrToDt/ToDtTm` (date part) |
//! | [`StatementInfo::account`] | `Acct/Id/IBAN` or `Acct/Id/Othr/Id` (the special account) |
//! | [`StatementInfo::currency`] | `Acct/Ccy`, else the first balance's `Ccy` |
//! | [`Balance`] | `Bal`: `Tp/CdOrPrtry/Cd` (or `Prtry`), `Amt` + `Ccy`, `CdtDbtInd`, `Dt/Dt` or `Dt/DtTm` |
//! | [`EntrySummary`] | `TxsSummry/TtlNtries/NbOfNtries`, `TtlCdtNtries`, `TtlDbtNtries` (`NbOfNtries`, `Sum`) |
//! | [`Entry::entry_ref`], [`Entry::account_servicer_ref`] | `Ntry/NtryRef`, `Ntry/AcctSvcrRef` |
//! | [`Entry::amount`], [`Entry::currency`], [`Entry::credit`] | `Ntry/Amt` + `Ccy`, `Ntry/CdtDbtInd` |
//! | [`Entry::reversal`] | `Ntry/RvslInd` |
//! | [`Entry::status`] | `Ntry/Sts` (.02/.04: text) or `Ntry/Sts/Cd` or `Sts/Prtry` (.08) |
//! | [`Entry::booking_date`], [`Entry::value_date`] | `BookgDt/Dt` or `BookgDt/DtTm`, `ValDt/…` |
//! | [`Entry::bank_tx_code`] | `BkTxCd/Domn/Cd` + `Fmly/Cd` + `Fmly/SubFmlyCd` as `PMNT/ICDT/RRTN` |
//! | [`Entry::bank_tx_proprietary`] | `BkTxCd/Prtry/Cd` (also the fallback for `bank_tx_code`) |
//! | [`Entry::batch`] | `NtryDtls/Btch`: `MsgId`, `PmtInfId`, `NbOfTxs`, `TtlAmt`, `CdtDbtInd` |
//! | [`TxDetail`] | `NtryDtls/TxDtls`: `Refs/*`, amount, `RltdPties`, `RtrInf`, `RmtInf/Ustrd` |
//! | [`Entry::additional_info`] | `Ntry/AddtlNtryInf` |
//!
//! A transaction detail's amount is `TxDtls/Amt` (.08) or `AmtDtls/TxAmt/Amt` (.02/.04, the
//! amount booked) or, failing both, `AmtDtls/InstdAmt/Amt` (the amount ordered — possibly in
//! another currency, see [`TxDetail::currency`]). Parties are `RltdPties/Dbtr/Nm` (.02) or
//! `Dbtr/Pty/Nm` (.08), accounts `DbtrAcct/Id/IBAN` or `…/Othr/Id`, the same for `Cdtr`.
//!
//! # How our money shows up
//!
//! A batch we sent is one **debit** entry with `NtryDtls/Btch/PmtInfId` = our batch id and
//! all, some or none of its `TxDtls` (whose `Refs/EndToEndId` are our payment refs). A payment
//! that failed after the debit comes back as a **credit** with `TxDtls/RtrInf/Rsn/Cd` (AC04,
//! BE01, AC01 …), bank transaction code `PMNT/ICDT/RRTN` or similar, sometimes `RvslInd` true.
//! A fiscal allocation is a plain credit. Which is which is the caller's decision; this reader
//! only reports faithfully.
//!
//! # Leniency and refusals
//!
//! The group header, `Acct`, `Bal` and `TxsSummry` may all be missing (PostFinance's excerpt
//! has none). Lenient where a real bank breaks the schema but the money facts are clear, each
//! such reading kept in [`StatementInfo::warnings`]:
//! - a balance without `CdtDbtInd` is read as stated (a credit balance, the amount as written);
//! - `TxsSummry` is the bank's own arithmetic, never needed to read the entries: its `Sum`s are
//!   `DecimalNumber`s, signed ones included (read as signed fen), and a count or sum that does
//!   not read is a warning, not a refusal.
//!
//! Strict where a money fact is missing, naming the element: an entry without `Amt` or
//! `CdtDbtInd`, an amount without `Ccy` (unless the account's currency is known), an amount
//! with a non-zero third decimal, a balance without its type or amount. A `Bal` after the
//! first `Ntry` is an error too: the statement was already reported, and silently dropping a
//! balance would break reconciliation. Which currency and account a statement may carry, and
//! which entries move money (only `BOOK`ed ones: [`Entry::booked`]), is the caller's decision.
//! The XML rules (namespaces ignored, DOCTYPE refused, truncation is an error) are
//! [`super::xml`]'s.

use super::detect::describe_message_element;
use super::xml::{self, Node, ReadError, XmlCursor, XmlError};
use crate::domain::Fen;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::io::BufRead;

/// The error of [`read`]; `E` is the callback's error type.
pub type CamtError<E> = ReadError<E>;

/// Transaction details accepted in one entry; one of our batches has at most 40,000.
pub const MAX_DETAILS_PER_ENTRY: usize = 200_000;

const INDEXED: &[&str] = &["Stmt", "Ntfctn", "Bal", "Ntry", "NtryDtls", "TxDtls"];

/// Statement (camt.053) or notification (camt.054).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamtKind {
    Statement,
    Notification,
}

/// One balance of a statement (`Bal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// `Tp/CdOrPrtry/Cd` (`OPBD`, `PRCD`, `OPAV`, `CLBD`, `CLAV`, `ITBD`, `FWAV`, …) or `Prtry`.
    pub code: String,
    /// Signed: a `DBIT` balance (overdrawn) is negative.
    pub amount: Fen,
    /// `CdtDbtInd` = `CRDT` (also when the bank left `CdtDbtInd` out: see `sign_given`).
    pub credit: bool,
    /// `false` when the balance had no `CdtDbtInd` and was read as stated (a warning says so).
    pub sign_given: bool,
    pub currency: String,
    /// `Dt/Dt`, or the date part of `Dt/DtTm`.
    pub date: Option<NaiveDate>,
}

/// The statement's own totals (`TxsSummry`), when the bank gives them. The sums are signed
/// (`DecimalNumber` allows a negative one); what does not read is `None` and a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntrySummary {
    /// `TtlNtries/NbOfNtries`.
    pub entries: Option<u64>,
    /// `TtlNtries/TtlNetNtry`: `Amt` (or `Amt` of .02's `TtlNetNtryAmt`) signed by its `CdtDbtInd`.
    pub net: Option<Fen>,
    /// `TtlCdtNtries/NbOfNtries` and `Sum`.
    pub credits: Option<u64>,
    pub credit_sum: Option<Fen>,
    /// `TtlDbtNtries/NbOfNtries` and `Sum`.
    pub debits: Option<u64>,
    pub debit_sum: Option<Fen>,
}

/// One statement or notification, without its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementInfo {
    pub kind: CamtKind,
    /// `GrpHdr/MsgId` of the message it came in.
    pub message_id: Option<String>,
    /// `Id`.
    pub id: Option<String>,
    /// `ElctrncSeqNb`.
    pub electronic_seq: Option<u64>,
    /// `LglSeqNb`.
    pub legal_seq: Option<u64>,
    /// `CreDtTm`, as written.
    pub created: Option<String>,
    /// `FrToDt/FrDtTm` and `ToDtTm`, date part.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// `Acct/Id/IBAN` or `Acct/Id/Othr/Id`.
    pub account: Option<String>,
    /// `Acct/Ccy`, else the first balance's currency.
    pub currency: Option<String>,
    /// In file order; empty for a notification or an excerpt.
    pub balances: Vec<Balance>,
    pub summary: EntrySummary,
    /// What was read leniently (see the module documentation), each naming the element.
    pub warnings: Vec<String>,
}

impl StatementInfo {
    /// The first balance with one of `codes`, in the order given: the opening balance is
    /// `balance(&["OPBD", "PRCD", "OPAV"])`, the closing one `balance(&["CLBD", "CLAV"])`.
    pub fn balance(&self, codes: &[&str]) -> Option<&Balance> {
        codes
            .iter()
            .find_map(|code| self.balances.iter().find(|b| b.code == *code))
    }
}

/// `NtryDtls/Btch`: the batch an entry books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchInfo {
    pub msg_id: Option<String>,
    /// For our batches: the batch id.
    pub pmt_inf_id: Option<String>,
    pub nb_of_txs: Option<u64>,
    /// `TtlAmt`.
    pub total: Option<Fen>,
    pub credit: Option<bool>,
}

/// One `NtryDtls/TxDtls`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxDetail {
    /// `Refs/EndToEndId`: our payment ref for our payments and their returns.
    pub end_to_end_id: Option<String>,
    pub instr_id: Option<String>,
    pub msg_id: Option<String>,
    pub pmt_inf_id: Option<String>,
    /// `Refs/AcctSvcrRef`.
    pub account_servicer_ref: Option<String>,
    /// `Refs/TxId`.
    pub tx_id: Option<String>,
    /// See the module documentation for which amount element is used.
    pub amount: Option<Fen>,
    pub currency: Option<String>,
    /// `TxDtls/CdtDbtInd` (.08 only).
    pub credit: Option<bool>,
    /// The other party: see [`TxDetail::counterpart_name`].
    pub counterpart_account: Option<String>,
    /// The party that is not the statement's account holder: the debtor of a credit, the
    /// creditor of a debit — unless that side is missing or carries the statement's own account
    /// (some banks repeat the original parties on a return), then the other side.
    pub counterpart_name: Option<String>,
    pub debtor_name: Option<String>,
    pub debtor_account: Option<String>,
    pub creditor_name: Option<String>,
    pub creditor_account: Option<String>,
    /// `RtrInf/Rsn/Cd`, or `RtrInf/Rsn/Prtry` when no code is given.
    pub return_reason: Option<String>,
    /// `RtrInf/AddtlInf`.
    pub return_info: Vec<String>,
    /// `RmtInf/Ustrd`.
    pub remittance: Vec<String>,
    /// `AddtlTxInf`.
    pub additional_info: Option<String>,
}

/// One booked entry (`Ntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The `Id` of the statement it belongs to.
    pub statement_id: Option<String>,
    /// `NtryRef`.
    pub entry_ref: Option<String>,
    /// `AcctSvcrRef`: the bank's unique reference, the key against double ingestion.
    pub account_servicer_ref: Option<String>,
    /// Unsigned; the direction is [`Entry::credit`].
    pub amount: Fen,
    pub currency: String,
    /// `CdtDbtInd` = `CRDT`: money in.
    pub credit: bool,
    /// `RvslInd`: this entry reverses an earlier one.
    pub reversal: bool,
    /// `BOOK`, `PDNG`, `INFO`, …
    pub status: Option<String>,
    pub booking_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    /// `Domn/Cd/Fmly/Cd/SubFmlyCd` joined, e.g. `PMNT/ICDT/RRTN`; else `Prtry/Cd`.
    pub bank_tx_code: Option<String>,
    /// `BkTxCd/Prtry/Cd`, the bank's own code (Chinese banks often give only this).
    pub bank_tx_proprietary: Option<String>,
    /// The first `NtryDtls/Btch` (an entry with several `NtryDtls` keeps all their `TxDtls`).
    pub batch: Option<BatchInfo>,
    pub details: Vec<TxDetail>,
    /// `AddtlNtryInf`.
    pub additional_info: Option<String>,
}

impl Entry {
    /// Booked (`Sts` `BOOK`, or `Sts/Cd` `BOOK` in .08): only a booked entry moved money.
    /// `PDNG` (pending), `INFO` (information only) and `FUTR` (future) did not.
    pub fn booked(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("BOOK"))
    }

    /// The amount with its sign: credits positive, debits negative.
    pub fn signed_amount(&self) -> Fen {
        if self.credit {
            self.amount
        } else {
            Fen(-self.amount.0)
        }
    }
}

/// What [`read`] hands to its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CamtEvent {
    Statement(StatementInfo),
    Entry(Entry),
}

/// The message level, returned when the document ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CamtSummary {
    pub kind: CamtKind,
    /// The message identifier from the namespace, e.g. `camt.053.001.02`, when declared.
    pub version: Option<String>,
    pub namespace: Option<String>,
    /// `GrpHdr/MsgId`.
    pub msg_id: Option<String>,
    /// `GrpHdr/CreDtTm`, as written.
    pub created: Option<String>,
    pub statements: u64,
    pub entries: u64,
}

/// Reads a camt.053 or camt.054 from `input`, calling `on_event` with each statement (header
/// and balances) and each of its entries, in file order.
///
/// ```
/// # use aidpay::formats::camt::{self, CamtEvent};
/// let xml = br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
///   <Stmt><Id>S1</Id><Acct><Id><Othr><Id>9558800200135073266</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
///     <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-25</Dt></Dt></Bal>
///     <Ntry><Amt Ccy="CNY">4500.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BkTxCd/>
///       <NtryDtls><Btch><PmtInfId>B20261125000001</PmtInfId><NbOfTxs>3</NbOfTxs></Btch></NtryDtls></Ntry>
///   </Stmt></BkToCstmrStmt></Document>"#;
/// let mut debits = Vec::new();
/// let summary = camt::read(&xml[..], |event| {
///     if let CamtEvent::Entry(e) = event {
///         debits.push((e.signed_amount().0, e.batch.and_then(|b| b.pmt_inf_id)));
///     }
///     Ok::<(), std::convert::Infallible>(())
/// })?;
/// assert_eq!(summary.entries, 1);
/// assert_eq!(debits, [(-450_000, Some("B20261125000001".to_string()))]);
/// # Ok::<(), camt::CamtError<std::convert::Infallible>>(())
/// ```
pub fn read<R: BufRead, E>(
    input: R,
    mut on_event: impl FnMut(CamtEvent) -> Result<(), E>,
) -> Result<CamtSummary, CamtError<E>> {
    let mut x = XmlCursor::new(input, INDEXED);
    let mut summary = CamtSummary {
        kind: CamtKind::Statement,
        version: None,
        namespace: None,
        msg_id: None,
        created: None,
        statements: 0,
        entries: 0,
    };
    // Depth of the message element (`BkToCstmrStmt` / `BkToCstmrDbtCdtNtfctn`).
    let mut m: Option<usize> = None;
    let mut stmt: Option<StatementState> = None;
    let mut entry: Option<EntryState> = None;

    loop {
        match x.next_node()? {
            Node::Eof => break,
            Node::Start => {
                let depth = x.depth();
                if depth == 1 {
                    summary.namespace = x.root_namespace().map(str::to_string);
                    summary.version = summary
                        .namespace
                        .as_deref()
                        .and_then(xml::message_id_of_namespace)
                        .map(str::to_string);
                    if let Some(kind) = message_kind(x.name()) {
                        summary.kind = kind;
                        m = Some(1);
                    } else if x.name() != "Document" {
                        return Err(ReadError::WrongMessage {
                            path: x.path(),
                            expected: EXPECTED,
                            found: format!("根元素为 {} 的 XML 文件", xml::quoted(x.name())),
                        });
                    }
                    continue;
                }
                let Some(m) = m else {
                    if let (2, Some(kind)) = (depth, message_kind(x.name())) {
                        summary.kind = kind;
                        m = Some(2);
                        continue;
                    }
                    return Err(ReadError::WrongMessage {
                        path: x.path(),
                        expected: EXPECTED,
                        found: describe_message_element(x.name()),
                    });
                };
                if depth == m + 1 && matches!(x.name(), "Stmt" | "Ntfctn") {
                    stmt = Some(StatementState::new(
                        summary.kind,
                        summary.msg_id.clone(),
                        depth,
                    ));
                    continue;
                }
                let Some(s) = stmt.as_mut() else { continue };
                if let Some(e) = entry.as_mut() {
                    if x.at(e.depth, &["NtryDtls", "TxDtls"]) {
                        if e.details.len() >= MAX_DETAILS_PER_ENTRY {
                            return Err(x
                                .invalid(format!(
                                    "一笔分录中的交易明细（TxDtls）超过 {MAX_DETAILS_PER_ENTRY} 条"
                                ))
                                .into());
                        }
                        e.details.push(DetailState::default());
                    } else if x.at(e.depth, &["NtryDtls", "Btch"]) && e.batch.is_none() {
                        e.batch = Some(BatchInfo::default());
                        e.filling_batch = true;
                    }
                    continue;
                }
                if x.at(s.depth, &["Ntry"]) {
                    if !s.reported {
                        s.reported = true;
                        summary.statements += 1;
                        let info = s.info.clone();
                        on_event(CamtEvent::Statement(info)).map_err(|cause| {
                            ReadError::Callback {
                                path: x.path(),
                                cause,
                            }
                        })?;
                    }
                    entry = Some(EntryState::new(depth));
                } else if x.at(s.depth, &["Bal"]) {
                    if s.reported {
                        return Err(x
                            .invalid(
                                "余额（Bal）出现在第一笔分录之后；按报文规范所有余额都在分录之前，\
                                 而此对账单已开始读取分录",
                            )
                            .into());
                    }
                    s.balance = Some(BalanceState::default());
                }
            }
            Node::End => {
                let Some(m) = m else { continue };
                let depth = x.depth();
                let Some(s) = stmt.as_mut() else {
                    if x.at(m, &["GrpHdr", "MsgId"]) {
                        summary.msg_id = x.text_opt();
                    } else if x.at(m, &["GrpHdr", "CreDtTm"]) {
                        summary.created = x.text_opt();
                    }
                    continue;
                };
                if let Some(e) = entry.as_mut() {
                    if depth == e.depth {
                        if let Some(done) = entry.take() {
                            let done = done.finish(&x, s)?;
                            summary.entries += 1;
                            on_event(CamtEvent::Entry(done)).map_err(|cause| {
                                ReadError::Callback {
                                    path: x.path(),
                                    cause,
                                }
                            })?;
                        }
                        continue;
                    }
                    e.end_element(&x)?;
                    continue;
                }
                if depth == s.depth {
                    if !s.reported {
                        summary.statements += 1;
                        let info = s.info.clone();
                        on_event(CamtEvent::Statement(info)).map_err(|cause| {
                            ReadError::Callback {
                                path: x.path(),
                                cause,
                            }
                        })?;
                    }
                    stmt = None;
                    continue;
                }
                s.end_element(&x)?;
            }
        }
    }
    if m.is_none() {
        return Err(ReadError::WrongMessage {
            path: "Document".to_string(),
            expected: EXPECTED,
            found: describe_message_element(""),
        });
    }
    Ok(summary)
}

const EXPECTED: &str = "camt.053 对账单（BkToCstmrStmt）或 camt.054 通知（BkToCstmrDbtCdtNtfctn）";

fn message_kind(local: &str) -> Option<CamtKind> {
    match local {
        "BkToCstmrStmt" => Some(CamtKind::Statement),
        "BkToCstmrDbtCdtNtfctn" => Some(CamtKind::Notification),
        _ => None,
    }
}

/// Reads a whole file into memory: the summary and every event. For small files and tests;
/// use [`read`] for anything that may be large.
pub fn read_all<R: BufRead>(
    input: R,
) -> Result<(CamtSummary, Vec<CamtEvent>), CamtError<std::convert::Infallible>> {
    let mut events = Vec::new();
    let summary = read(input, |event| {
        events.push(event);
        Ok(())
    })?;
    Ok((summary, events))
}

/// A statement being read.
struct StatementState {
    depth: usize,
    info: StatementInfo,
    balance: Option<BalanceState>,
    /// `TxsSummry/TtlNtries/TtlNetNtry` (.04+) or `TtlNetNtryAmt` + `CdtDbtInd` (.02): the
    /// amount and the sign, put together when `TtlNtries` closes.
    net: Option<(Option<Fen>, Option<bool>)>,
    reported: bool,
}

#[derive(Default)]
struct BalanceState {
    code: Option<String>,
    amount: Option<(Fen, Option<String>)>,
    credit: Option<bool>,
    date: Option<NaiveDate>,
}

impl StatementState {
    fn new(kind: CamtKind, message_id: Option<String>, depth: usize) -> Self {
        StatementState {
            depth,
            info: StatementInfo {
                kind,
                message_id,
                id: None,
                electronic_seq: None,
                legal_seq: None,
                created: None,
                from: None,
                to: None,
                account: None,
                currency: None,
                balances: Vec::new(),
                summary: EntrySummary::default(),
                warnings: Vec::new(),
            },
            balance: None,
            net: None,
            reported: false,
        }
    }

    /// An element below the statement (not inside an entry) closed.
    fn end_element<R: BufRead>(&mut self, x: &XmlCursor<R>) -> Result<(), XmlError> {
        let s = self.depth;
        let info = &mut self.info;
        if let Some(b) = self.balance.as_mut() {
            if x.at(s, &["Bal"]) {
                let done = self.balance.take().unwrap_or_default();
                let missing = |element| XmlError::Missing {
                    path: x.path(),
                    element,
                    why: "余额须有类型、金额和借贷标记",
                };
                let code = done.code.ok_or_else(|| missing("Tp/CdOrPrtry/Cd"))?;
                let (amount, ccy) = done.amount.ok_or_else(|| missing("Amt"))?;
                let currency = match ccy.or_else(|| info.currency.clone()) {
                    Some(c) => c,
                    None => return Err(x.invalid("余额的 Amt 没有 Ccy 属性（币种）")),
                };
                // A balance without its sign: read as stated (the amount as written, a credit
                // balance), and said so. Its amount and type are still required.
                let sign_given = done.credit.is_some();
                let credit = done.credit.unwrap_or(true);
                if !sign_given {
                    info.warnings.push(format!(
                        "{}：余额 {code} {amount} {currency} 没有 CdtDbtInd（借贷标记）；按原样读取（视为贷方余额）",
                        x.path()
                    ));
                }
                if info.currency.is_none() {
                    info.currency = Some(currency.clone());
                }
                info.balances.push(Balance {
                    code,
                    amount: if credit { amount } else { Fen(-amount.0) },
                    credit,
                    sign_given,
                    currency,
                    date: done.date,
                });
            } else if x.at(s, &["Bal", "Tp", "CdOrPrtry", "Cd"])
                || (x.at(s, &["Bal", "Tp", "CdOrPrtry", "Prtry"]) && b.code.is_none())
            {
                b.code = x.text_opt();
            } else if x.at(s, &["Bal", "Amt"]) {
                b.amount = Some((x.amount()?, ccy(x)));
            } else if x.at(s, &["Bal", "CdtDbtInd"]) {
                b.credit = Some(x.credit_debit()?);
            } else if x.at(s, &["Bal", "Dt", "Dt"]) || x.at(s, &["Bal", "Dt", "DtTm"]) {
                b.date = Some(x.date()?);
            }
            return Ok(());
        }
        if x.at(s, &["Id"]) {
            info.id = x.text_opt();
        } else if x.at(s, &["ElctrncSeqNb"]) {
            info.electronic_seq = Some(x.count()?);
        } else if x.at(s, &["LglSeqNb"]) {
            info.legal_seq = Some(x.count()?);
        } else if x.at(s, &["CreDtTm"]) {
            info.created = x.text_opt();
        } else if x.at(s, &["FrToDt", "FrDtTm"]) {
            info.from = Some(x.date()?);
        } else if x.at(s, &["FrToDt", "ToDtTm"]) {
            info.to = Some(x.date()?);
        } else if x.at(s, &["Acct", "Id", "IBAN"]) || x.at(s, &["Acct", "Id", "Othr", "Id"]) {
            info.account = x.text_opt();
        } else if x.at(s, &["Acct", "Ccy"]) {
            if let Some(c) = x.text_opt() {
                info.currency = Some(c);
            }
        } else if x.name_at(s + 1, "TxsSummry") {
            // The bank's own arithmetic: never a reason to refuse the money facts it sums up.
            let warnings = &mut info.warnings;
            let count = |warnings: &mut Vec<String>| match x.count() {
                Ok(n) => Some(n),
                Err(e) => {
                    warnings.push(format!("{e}；汇总笔数不予采用"));
                    None
                }
            };
            let sum = |warnings: &mut Vec<String>| match x.decimal().map_err(|e| e.to_string()).and_then(|d| {
                signed_fen(d).ok_or_else(|| format!("{}：{d} 不是整分金额", x.path()))
            }) {
                Ok(f) => Some(f),
                Err(e) => {
                    warnings.push(format!("{e}；汇总金额不予采用"));
                    None
                }
            };
            if x.at(s, &["TxsSummry", "TtlNtries", "NbOfNtries"]) {
                info.summary.entries = count(warnings);
            } else if x.at(s, &["TxsSummry", "TtlNtries", "TtlNetNtry", "Amt"]) || x.at(s, &["TxsSummry", "TtlNtries", "TtlNetNtryAmt"]) {
                self.net.get_or_insert((None, None)).0 = sum(warnings);
            } else if x.at(s, &["TxsSummry", "TtlNtries", "TtlNetNtry", "CdtDbtInd"]) || x.at(s, &["TxsSummry", "TtlNtries", "CdtDbtInd"]) {
                match x.credit_debit() {
                    Ok(c) => self.net.get_or_insert((None, None)).1 = Some(c),
                    Err(e) => warnings.push(format!("{e}；汇总净额的借贷方向不予采用")),
                }
            } else if x.at(s, &["TxsSummry", "TtlNtries"]) {
                if let Some((Some(amount), credit)) = self.net.take() {
                    info.summary.net = Some(if credit == Some(false) { Fen(-amount.0) } else { amount });
                }
            } else if x.at(s, &["TxsSummry", "TtlCdtNtries", "NbOfNtries"]) {
                info.summary.credits = count(warnings);
            } else if x.at(s, &["TxsSummry", "TtlCdtNtries", "Sum"]) {
                info.summary.credit_sum = sum(warnings);
            } else if x.at(s, &["TxsSummry", "TtlDbtNtries", "NbOfNtries"]) {
                info.summary.debits = count(warnings);
            } else if x.at(s, &["TxsSummry", "TtlDbtNtries", "Sum"]) {
                info.summary.debit_sum = sum(warnings);
            }
        }
        Ok(())
    }
}

/// An entry being read.
struct EntryState {
    depth: usize,
    entry_ref: Option<String>,
    account_servicer_ref: Option<String>,
    amount: Option<(Fen, Option<String>)>,
    credit: Option<bool>,
    reversal: bool,
    status: Option<String>,
    booking_date: Option<NaiveDate>,
    value_date: Option<NaiveDate>,
    domain: Option<String>,
    family: Option<String>,
    sub_family: Option<String>,
    proprietary: Option<String>,
    batch: Option<BatchInfo>,
    filling_batch: bool,
    details: Vec<DetailState>,
    additional_info: Option<String>,
}

#[derive(Default)]
struct DetailState {
    detail: TxDetail,
    direct: Option<(Fen, Option<String>)>,
    booked: Option<(Fen, Option<String>)>,
    instructed: Option<(Fen, Option<String>)>,
}

fn ccy<R: BufRead>(x: &XmlCursor<R>) -> Option<String> {
    x.attr("Ccy")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

impl EntryState {
    fn new(depth: usize) -> Self {
        EntryState {
            depth,
            entry_ref: None,
            account_servicer_ref: None,
            amount: None,
            credit: None,
            reversal: false,
            status: None,
            booking_date: None,
            value_date: None,
            domain: None,
            family: None,
            sub_family: None,
            proprietary: None,
            batch: None,
            filling_batch: false,
            details: Vec::new(),
            additional_info: None,
        }
    }

    /// An element inside the entry closed.
    fn end_element<R: BufRead>(&mut self, x: &XmlCursor<R>) -> Result<(), XmlError> {
        let n = self.depth;
        if x.depth() > n + 2 && x.name_at(n + 1, "NtryDtls") && x.name_at(n + 2, "TxDtls") {
            if let Some(d) = self.details.last_mut() {
                d.end_element(x, n + 2)?;
            }
            return Ok(());
        }
        if x.depth() >= n + 2 && x.name_at(n + 1, "NtryDtls") && x.name_at(n + 2, "Btch") {
            if !self.filling_batch {
                return Ok(());
            }
            if x.depth() == n + 2 {
                self.filling_batch = false;
                return Ok(());
            }
            let b = self.batch.get_or_insert_with(BatchInfo::default);
            let t = n + 2;
            if x.at(t, &["MsgId"]) {
                b.msg_id = x.text_opt();
            } else if x.at(t, &["PmtInfId"]) {
                b.pmt_inf_id = x.text_opt();
            } else if x.at(t, &["NbOfTxs"]) {
                b.nb_of_txs = Some(x.count()?);
            } else if x.at(t, &["TtlAmt"]) {
                b.total = Some(x.amount()?);
            } else if x.at(t, &["CdtDbtInd"]) {
                b.credit = Some(x.credit_debit()?);
            }
            return Ok(());
        }
        if x.at(n, &["NtryRef"]) {
            self.entry_ref = x.text_opt();
        } else if x.at(n, &["Amt"]) {
            self.amount = Some((x.amount()?, ccy(x)));
        } else if x.at(n, &["CdtDbtInd"]) {
            self.credit = Some(x.credit_debit()?);
        } else if x.at(n, &["RvslInd"]) {
            self.reversal = x.boolean()?;
        } else if x.at(n, &["Sts", "Cd"]) || x.at(n, &["Sts", "Prtry"]) {
            self.status = x.text_opt();
        } else if x.at(n, &["Sts"]) {
            // .02/.04: the code is the element's own text; .08: already set from `Sts/Cd`.
            if self.status.is_none() {
                self.status = x.text_opt();
            }
        } else if x.at(n, &["BookgDt", "Dt"]) || x.at(n, &["BookgDt", "DtTm"]) {
            self.booking_date = Some(x.date()?);
        } else if x.at(n, &["ValDt", "Dt"]) || x.at(n, &["ValDt", "DtTm"]) {
            self.value_date = Some(x.date()?);
        } else if x.at(n, &["AcctSvcrRef"]) {
            self.account_servicer_ref = x.text_opt();
        } else if x.at(n, &["BkTxCd", "Domn", "Cd"]) {
            self.domain = x.text_opt();
        } else if x.at(n, &["BkTxCd", "Domn", "Fmly", "Cd"]) {
            self.family = x.text_opt();
        } else if x.at(n, &["BkTxCd", "Domn", "Fmly", "SubFmlyCd"]) {
            self.sub_family = x.text_opt();
        } else if x.at(n, &["BkTxCd", "Prtry", "Cd"]) {
            self.proprietary = x.text_opt();
        } else if x.at(n, &["AddtlNtryInf"]) {
            self.additional_info = x.text_opt();
        }
        Ok(())
    }

    /// The entry closed: check what it cannot be without and build it.
    fn finish<R: BufRead>(self, x: &XmlCursor<R>, s: &StatementState) -> Result<Entry, XmlError> {
        let missing = |element| XmlError::Missing {
            path: x.path(),
            element,
            why: "分录须有金额和借贷标记（CdtDbtInd）",
        };
        let (amount, ccy) = self.amount.ok_or_else(|| missing("Amt"))?;
        let credit = self.credit.ok_or_else(|| missing("CdtDbtInd"))?;
        let currency = match ccy.or_else(|| s.info.currency.clone()) {
            Some(c) => c,
            None => return Err(x.invalid("分录的 Amt 没有 Ccy 属性（币种）")),
        };
        let bank_tx_code = match (&self.domain, &self.family, &self.sub_family) {
            (Some(d), Some(f), Some(sf)) => Some(format!("{d}/{f}/{sf}")),
            (Some(d), Some(f), None) => Some(format!("{d}/{f}")),
            (Some(d), None, _) => Some(d.clone()),
            _ => self.proprietary.clone(),
        };
        let own = s.info.account.as_deref();
        let details = self
            .details
            .into_iter()
            .map(|d| d.finish(credit, own))
            .collect();
        Ok(Entry {
            statement_id: s.info.id.clone(),
            entry_ref: self.entry_ref,
            account_servicer_ref: self.account_servicer_ref,
            amount,
            currency,
            credit,
            reversal: self.reversal,
            status: self.status,
            booking_date: self.booking_date,
            value_date: self.value_date,
            bank_tx_code,
            bank_tx_proprietary: self.proprietary,
            batch: self.batch,
            details,
            additional_info: self.additional_info,
        })
    }
}

impl DetailState {
    /// An element inside `TxDtls` (open at depth `t`) closed.
    fn end_element<R: BufRead>(&mut self, x: &XmlCursor<R>, t: usize) -> Result<(), XmlError> {
        let d = &mut self.detail;
        if x.name_at(t + 1, "Refs") {
            if x.at(t, &["Refs", "EndToEndId"]) {
                d.end_to_end_id = x.text_opt();
            } else if x.at(t, &["Refs", "InstrId"]) {
                d.instr_id = x.text_opt();
            } else if x.at(t, &["Refs", "MsgId"]) {
                d.msg_id = x.text_opt();
            } else if x.at(t, &["Refs", "PmtInfId"]) {
                d.pmt_inf_id = x.text_opt();
            } else if x.at(t, &["Refs", "AcctSvcrRef"]) {
                d.account_servicer_ref = x.text_opt();
            } else if x.at(t, &["Refs", "TxId"]) {
                d.tx_id = x.text_opt();
            }
        } else if x.at(t, &["Amt"]) {
            self.direct = Some((x.amount()?, ccy(x)));
        } else if x.at(t, &["CdtDbtInd"]) {
            d.credit = Some(x.credit_debit()?);
        } else if x.at(t, &["AmtDtls", "TxAmt", "Amt"]) {
            self.booked = Some((x.amount()?, ccy(x)));
        } else if x.at(t, &["AmtDtls", "InstdAmt", "Amt"]) {
            self.instructed = Some((x.amount()?, ccy(x)));
        } else if x.name_at(t + 1, "RltdPties") {
            if x.at(t, &["RltdPties", "Dbtr", "Nm"]) || x.at(t, &["RltdPties", "Dbtr", "Pty", "Nm"])
            {
                d.debtor_name = x.text_opt();
            } else if x.at(t, &["RltdPties", "Cdtr", "Nm"])
                || x.at(t, &["RltdPties", "Cdtr", "Pty", "Nm"])
            {
                d.creditor_name = x.text_opt();
            } else if x.at(t, &["RltdPties", "DbtrAcct", "Id", "IBAN"])
                || x.at(t, &["RltdPties", "DbtrAcct", "Id", "Othr", "Id"])
            {
                d.debtor_account = x.text_opt();
            } else if x.at(t, &["RltdPties", "CdtrAcct", "Id", "IBAN"])
                || x.at(t, &["RltdPties", "CdtrAcct", "Id", "Othr", "Id"])
            {
                d.creditor_account = x.text_opt();
            }
        } else if x.name_at(t + 1, "RtrInf") {
            if x.at(t, &["RtrInf", "Rsn", "Cd"]) {
                d.return_reason = x.text_opt();
            } else if x.at(t, &["RtrInf", "Rsn", "Prtry"]) {
                if d.return_reason.is_none() {
                    d.return_reason = x.text_opt();
                }
            } else if x.at(t, &["RtrInf", "AddtlInf"])
                && let Some(text) = x.text_opt()
            {
                d.return_info.push(text);
            }
        } else if x.at(t, &["RmtInf", "Ustrd"]) {
            if let Some(text) = x.text_opt() {
                d.remittance.push(text);
            }
        } else if x.at(t, &["AddtlTxInf"]) {
            d.additional_info = x.text_opt();
        }
        Ok(())
    }

    fn finish(self, entry_credit: bool, own_account: Option<&str>) -> TxDetail {
        let mut d = self.detail;
        if let Some((amount, ccy)) = self.direct.or(self.booked).or(self.instructed) {
            d.amount = Some(amount);
            d.currency = ccy;
        }
        let credit = d.credit.unwrap_or(entry_credit);
        let debtor = (d.debtor_name.clone(), d.debtor_account.clone());
        let creditor = (d.creditor_name.clone(), d.creditor_account.clone());
        let (first, second) = if credit {
            (debtor, creditor)
        } else {
            (creditor, debtor)
        };
        let usable = |side: &(Option<String>, Option<String>)| {
            let empty = side.0.is_none() && side.1.is_none();
            let ours = matches!((&side.1, own_account), (Some(a), Some(o)) if same_account(a, o));
            !empty && !ours
        };
        let chosen = if usable(&first) || !usable(&second) {
            first
        } else {
            second
        };
        d.counterpart_name = chosen.0;
        d.counterpart_account = chosen.1;
        d
    }
}

/// Account numbers compared as banks print them: spaces and dashes ignored, letters in any
/// case (`NL08 INGB 0000 0012 34` is `NL08INGB0000001234`); an empty number is nobody's.
pub fn same_account(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect::<String>()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

/// A signed decimal of yuan as fen; `None` when it has a non-zero third decimal or is too large.
fn signed_fen(d: Decimal) -> Option<Fen> {
    let fen = (d * Decimal::ONE_HUNDRED).normalize();
    if fen.scale() > 0 {
        return None;
    }
    i64::try_from(fen).ok().map(Fen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn shared(rel: &str) -> Vec<u8> {
        let path = format!(
            "{}/../shared/iso20022/samples/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}; the shared/ folder must sit beside the repository")
        })
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/bank/iso/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Reads a file and splits the events into statements and entries.
    fn read_bytes(bytes: &[u8]) -> (CamtSummary, Vec<StatementInfo>, Vec<Entry>) {
        let (summary, events) = read_all(bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut statements = Vec::new();
        let mut entries = Vec::new();
        for event in events {
            match event {
                CamtEvent::Statement(s) => {
                    assert!(
                        entries
                            .iter()
                            .all(|e: &Entry| e.statement_id != s.id || s.id.is_none()),
                        "statement reported after its entries"
                    );
                    statements.push(s)
                }
                CamtEvent::Entry(e) => {
                    assert!(!statements.is_empty(), "entry before its statement");
                    entries.push(e)
                }
            }
        }
        assert_eq!(summary.statements as usize, statements.len());
        assert_eq!(summary.entries as usize, entries.len());
        (summary, statements, entries)
    }

    /// opening + credits − debits = closing, for one statement.
    fn assert_balances_add_up(s: &StatementInfo, entries: &[Entry], opening: &str, closing: &str) {
        let open = s
            .balance(&[opening])
            .unwrap_or_else(|| panic!("no {opening}"))
            .amount;
        let close = s
            .balance(&[closing])
            .unwrap_or_else(|| panic!("no {closing}"))
            .amount;
        let moved: i64 = entries
            .iter()
            .filter(|e| e.statement_id == s.id && e.status.as_deref() == Some("BOOK"))
            .map(|e| e.signed_amount().0)
            .sum();
        assert_eq!(
            Fen(open.0 + moved),
            close,
            "{opening} + entries = {closing}"
        );
    }

    fn date(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn fffs_finland_053_batch_debits_with_all_some_or_no_details() {
        let (summary, statements, entries) =
            read_bytes(&shared("camt.053/fffs_finland/FI_camt_053_sample.xml.xml"));
        assert_eq!(summary.kind, CamtKind::Statement);
        assert_eq!(summary.version.as_deref(), Some("camt.053.001.02"));
        assert_eq!(summary.msg_id.as_deref(), Some("BANKFILEID00001"));
        let s = &statements[0];
        assert_eq!(s.id.as_deref(), Some("BANKSTMTID0972009"));
        assert_eq!(s.message_id.as_deref(), Some("BANKFILEID00001"));
        assert_eq!(s.electronic_seq, Some(120));
        assert_eq!(s.legal_seq, Some(97));
        assert_eq!(s.account.as_deref(), Some("FI7433010001222090"));
        assert_eq!(s.currency.as_deref(), Some("EUR"));
        assert_eq!((s.from, s.to), (date("2009-10-29"), date("2009-10-29")));
        let codes: Vec<_> = s.balances.iter().map(|b| b.code.as_str()).collect();
        assert_eq!(codes, ["OPBD", "PRCD", "CLBD", "CLAV"]);
        assert_eq!(s.balance(&["OPBD"]).unwrap().amount, Fen(1_000_000));
        assert_eq!(s.balance(&["CLBD"]).unwrap().amount, Fen(2_364_483));
        assert_eq!(
            s.summary,
            EntrySummary {
                entries: Some(10),
                net: None,
                credits: Some(6),
                credit_sum: Some(Fen(2_307_500)),
                debits: Some(4),
                debit_sum: Some(Fen(943_017)),
            }
        );
        assert_eq!(entries.len(), 10);
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");

        let batch = |e: &Entry| e.batch.as_ref().and_then(|b| b.nb_of_txs);
        let debits: Vec<_> = entries.iter().filter(|e| !e.credit).collect();
        assert_eq!(debits.len(), 4);
        // 1000.12 with NbOfTxs 4 but one (nearly empty) TxDtls.
        assert_eq!(
            (debits[0].amount, batch(debits[0]), debits[0].details.len()),
            (Fen(100_012), Some(4), 1)
        );
        assert_eq!(debits[0].bank_tx_code.as_deref(), Some("PMNT/ICDT/SALA"));
        assert_eq!(
            debits[0].bank_tx_proprietary.as_deref(),
            Some("NTRF+701TransactionCodeText")
        );
        assert_eq!(
            debits[0].batch.as_ref().unwrap().pmt_inf_id.as_deref(),
            Some("CustRefForSalaBatch")
        );
        assert_eq!(
            debits[0].batch.as_ref().unwrap().msg_id.as_deref(),
            Some("MSGSALA0001")
        );
        // 4000.00 with NbOfTxs 3 and no details.
        assert_eq!(
            (debits[1].amount, batch(debits[1]), debits[1].details.len()),
            (Fen(400_000), Some(3), 0)
        );
        // 4230.05 with NbOfTxs 3 and all three.
        let full = debits[2];
        assert_eq!(
            (full.amount, batch(full), full.details.len()),
            (Fen(423_005), Some(3), 3)
        );
        let amounts: Vec<_> = full.details.iter().map(|d| d.amount.unwrap()).collect();
        assert_eq!(amounts, [Fen(200_002), Fen(100_001), Fen(123_002)]);
        assert_eq!(amounts.iter().copied().sum::<Fen>(), full.amount);
        assert_eq!(full.details[0].instr_id.as_deref(), Some("TITOT1106ID01"));
        assert_eq!(
            full.details[0].counterpart_name.as_deref(),
            Some("Creditor Company")
        );
        assert_eq!(
            full.details[0].counterpart_account.as_deref(),
            Some("29501800020582")
        );
        assert_eq!(full.details[1].remittance, ["Invoices 123 and 321"]);
        assert_eq!(full.booking_date, date("2009-10-29"));
        assert_eq!(
            full.account_servicer_ref.as_deref(),
            Some("091029ACCTSTMTARCH03")
        );
        // The FX credit: booked 2120.00 EUR, instructed 3200.00 USD.
        let fx = entries.iter().find(|e| e.amount == Fen(212_000)).unwrap();
        assert_eq!(fx.details[0].amount, Some(Fen(212_000)));
        assert_eq!(fx.details[0].currency.as_deref(), Some("EUR"));
        assert_eq!(
            fx.details[0].counterpart_name.as_deref(),
            Some("DEBTOR NAME")
        );
        assert_eq!(fx.value_date, date("2009-10-30"));
    }

    #[test]
    fn abn_amro_salary_batch_and_prcd_opening() {
        let (_, statements, entries) = read_bytes(&shared("camt.053/abn_amro/example_camt.xml"));
        assert_eq!(statements.len(), 1);
        let s = &statements[0];
        assert!(s.balance(&["OPBD"]).is_none());
        assert_eq!(
            s.balance(&["OPBD", "PRCD", "OPAV"]).unwrap().amount,
            Fen(100_001)
        );
        assert_eq!(s.balance(&["CLBD"]).unwrap().amount, Fen(10_001));
        assert_eq!(entries.len(), 13);
        assert_balances_add_up(s, &entries, "PRCD", "CLBD");
        let salary: Vec<_> = entries
            .iter()
            .filter(|e| {
                !e.credit
                    && e.batch.as_ref().and_then(|b| b.nb_of_txs) == Some(2)
                    && e.amount == Fen(200)
            })
            .collect();
        assert!(!salary.is_empty(), "the 2.00 salary batch debit");
        let incoming: Vec<_> = entries
            .iter()
            .filter_map(|e| {
                e.batch
                    .as_ref()
                    .and_then(|b| b.nb_of_txs)
                    .filter(|_| e.credit)
            })
            .collect();
        assert!(
            incoming.contains(&10) && incoming.contains(&7),
            "{incoming:?}"
        );
        let reasons: Vec<_> = entries
            .iter()
            .flat_map(|e| &e.details)
            .filter_map(|d| d.return_reason.as_deref())
            .collect();
        assert!(reasons.contains(&"MS03"), "{reasons:?}");
        let long = entries
            .iter()
            .flat_map(|e| &e.details)
            .flat_map(|d| &d.remittance);
        assert!(
            long.clone().any(|u| u.chars().count() > 140),
            "over-long Ustrd is kept whole"
        );
    }

    #[test]
    fn ing_batch_without_details_and_returned_credit_ac04() {
        let (_, statements, entries) = read_bytes(&shared("camt.053/ing/example_camt.xml"));
        let s = &statements[0];
        assert_eq!(s.electronic_seq, Some(3), "written 03");
        assert_eq!(s.account.as_deref(), Some("NL08INGB0000001234"));
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");
        assert_eq!(s.balance(&["CLBD"]).unwrap().amount, Fen(160_500));
        let batch = entries.iter().find(|e| e.amount == Fen(30_000)).unwrap();
        assert!(!batch.credit);
        assert!(batch.details.is_empty());
        let b = batch.batch.as_ref().unwrap();
        assert_eq!(
            (b.pmt_inf_id.as_deref(), b.nb_of_txs),
            (Some("20140103MctBtchId2VZ"), Some(2))
        );
        let returned = entries
            .iter()
            .find(|e| {
                e.details
                    .iter()
                    .any(|d| d.return_reason.as_deref() == Some("AC04"))
            })
            .unwrap();
        assert!(returned.credit);
        assert_eq!(returned.amount, Fen(12_500));
        assert_eq!(returned.bank_tx_code.as_deref(), Some("PMNT/RCDT/RRTN"));
        assert_eq!(
            returned.details[0].counterpart_account.as_deref(),
            Some("NL20INGB0005047249")
        );
        let md06 = entries
            .iter()
            .find(|e| {
                e.details
                    .iter()
                    .any(|d| d.return_reason.as_deref() == Some("MD06"))
            })
            .unwrap();
        assert!(md06.reversal && !md06.credit);
    }

    #[test]
    fn postfinance_053_v08_excerpt_without_header_or_balances() {
        let (summary, statements, entries) =
            read_bytes(&shared("camt.053/postfinance/postfinance_camt053.xml"));
        assert_eq!(summary.version.as_deref(), Some("camt.053.001.08"));
        assert_eq!(summary.msg_id, None);
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0].id, None);
        assert!(statements[0].balances.is_empty());
        assert_eq!(entries.len(), 2);
        let reasons: Vec<_> = entries
            .iter()
            .map(|e| e.details[0].return_reason.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(reasons, ["BE01", "RR03"]);
        for e in &entries {
            assert!(e.credit && e.reversal);
            assert_eq!(e.amount, Fen(100));
            assert_eq!(e.currency, "CHF");
            assert_eq!(e.status.as_deref(), Some("BOOK"), "Sts/Cd in .08");
            assert_eq!(e.bank_tx_code.as_deref(), Some("PMNT/ICDT/RRTN"));
            assert_eq!(e.details[0].credit, Some(true));
            assert_eq!(e.details[0].amount, Some(Fen(100)));
            assert_eq!(e.details[0].end_to_end_id.as_deref(), Some("NOTPROVIDED"));
            assert_eq!(e.details[0].return_info, ["more info here ..."]);
        }
    }

    #[test]
    fn siauliu_one_decimal_amount_and_zero_closing_balance() {
        let (_, statements, entries) =
            read_bytes(&shared("camt.053/siauliu_bankas/statement_1.xml"));
        let s = &statements[0];
        assert_eq!(s.balance(&["OPAV"]).unwrap().amount, Fen(276_808));
        assert_eq!(s.balance(&["CLAV"]).unwrap().amount, Fen(0));
        assert_balances_add_up(s, &entries, "OPAV", "CLAV");
        let amounts: Vec<_> = entries.iter().map(|e| e.amount).collect();
        assert_eq!(amounts, [Fen(164), Fen(273_458), Fen(3016), Fen(170)]);
        assert_eq!(entries[3].details[0].amount, Some(Fen(170)));
        assert_eq!(
            entries[2].details[0].counterpart_name.as_deref(),
            Some("Antstolis Vardenis Pavardenis")
        );
        assert_eq!(
            entries[1].details[0].remittance,
            ["Lėšų įsiskolinimui dengti surinkimas į paskolos aptarnavimo sąskaitą"]
        );
        // Debit to the same owner's other account: the creditor side is still the counterpart.
        assert_eq!(
            entries[0].details[0].counterpart_name.as_deref(),
            Some("UAB \"TESTAVIMAS\"")
        );
    }

    #[test]
    fn postfinance_v04_credit_batches_and_returns() {
        let (summary, statements, entries) = read_bytes(&shared(
            "camt.053/postfinance_camt_parser/valid_example_v4.xml",
        ));
        assert_eq!(summary.version.as_deref(), Some("camt.053.001.04"));
        let s = &statements[0];
        assert_eq!(s.balance(&["OPBD"]).unwrap().amount, Fen(32_215_216));
        assert_eq!(s.balance(&["CLBD"]).unwrap().amount, Fen(32_268_977));
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");
        let credits: u64 = entries
            .iter()
            .filter(|e| e.credit)
            .map(|e| e.amount.0 as u64)
            .sum();
        let debits: u64 = entries
            .iter()
            .filter(|e| !e.credit)
            .map(|e| e.amount.0 as u64)
            .sum();
        assert_eq!((credits, debits), (181_056, 127_295));
        let mut batch_sizes: Vec<_> = entries
            .iter()
            .filter(|e| e.credit)
            .filter_map(|e| e.batch.as_ref().and_then(|b| b.nb_of_txs))
            .collect();
        batch_sizes.sort();
        for n in [10, 8, 3, 2, 1] {
            assert!(batch_sizes.contains(&n), "{batch_sizes:?}");
        }
        for e in entries.iter().filter(|e| e.batch.is_some() && e.credit) {
            let n = e.batch.as_ref().and_then(|b| b.nb_of_txs).unwrap() as usize;
            if n > 1 {
                assert_eq!(
                    e.details.len(),
                    n,
                    "full TxDtls for {:?}",
                    e.account_servicer_ref
                );
            }
        }
        let reasons: Vec<_> = entries
            .iter()
            .flat_map(|e| &e.details)
            .filter_map(|d| d.return_reason.as_deref())
            .collect();
        assert!(
            reasons.contains(&"NARR") && reasons.contains(&"MD06"),
            "{reasons:?}"
        );
        assert!(entries.iter().any(|e| {
            e.additional_info
                .as_deref()
                .is_some_and(|t| t.contains("FÜR KONTOAUSZUG"))
        }));
    }

    #[test]
    fn camt054_v08_return_ac01() {
        let (summary, statements, entries) = read_bytes(&shared(
            "camt.054/postfinance/9_camt054 Return_Detailavisierung mit Sammelbuchung_ISO2019_v2019.xml",
        ));
        assert_eq!(summary.kind, CamtKind::Notification);
        assert_eq!(summary.version.as_deref(), Some("camt.054.001.08"));
        assert_eq!(statements[0].kind, CamtKind::Notification);
        assert!(statements[0].balances.is_empty());
        assert_eq!(
            statements[0].account.as_deref(),
            Some("CH2909000000250094239")
        );
        assert_eq!(
            statements[0].created.as_deref(),
            Some("2022-05-20T23:40:06")
        );
        let e = &entries[0];
        assert_eq!(entries.len(), 1);
        assert!(e.credit && !e.reversal);
        assert_eq!(e.amount, Fen(40_000));
        assert_eq!(e.batch.as_ref().and_then(|b| b.nb_of_txs), Some(1));
        let d = &e.details[0];
        assert_eq!(d.return_reason.as_deref(), Some("AC01"));
        assert_eq!(d.return_info, ["Kontonummer falsch"]);
        assert_eq!(d.end_to_end_id.as_deref(), Some("EndToEndId-004-01-01"));
        assert_eq!(d.pmt_inf_id.as_deref(), Some("PmtInfId-004-01"));
        assert_eq!(d.counterpart_name.as_deref(), Some("Robert Schneider SA"));
        assert_eq!(
            d.counterpart_account.as_deref(),
            Some("CH8709000000929471495")
        );
        assert_eq!(d.remittance, ["Kontouebertrag"]);
        assert!(
            e.additional_info
                .as_deref()
                .unwrap()
                .starts_with("SAMMELGUTSCHRIFT RETOUREN")
        );
    }

    #[test]
    fn camt054_v02_batches_and_finnish_return_text() {
        let (summary, statements, entries) =
            read_bytes(&shared("camt.054/fffs_finland/FI_camt_054_sample.xml.xml"));
        assert_eq!(summary.kind, CamtKind::Notification);
        assert_eq!(statements[0].electronic_seq, Some(96));
        assert_eq!(statements[0].summary.entries, Some(6));
        let debit = entries
            .iter()
            .find(|e| !e.credit && e.amount == Fen(423_005))
            .unwrap();
        assert_eq!(debit.batch.as_ref().and_then(|b| b.nb_of_txs), Some(3));
        assert_eq!(debit.details.len(), 3);
        let returned = entries
            .iter()
            .find(|e| e.amount == Fen(10_000) && e.credit)
            .unwrap();
        assert_eq!(returned.status.as_deref(), Some("INFO"));
        let reasons: Vec<_> = returned
            .details
            .iter()
            .map(|d| d.return_reason.clone().unwrap())
            .collect();
        assert_eq!(reasons, ["AC01", "CUST"]);
        assert_eq!(returned.details[0].return_info, ["1+TILIÄ EI LÖYDY"]);
        let first = &entries[0];
        let b = first.batch.as_ref().unwrap();
        assert_eq!((b.total, b.credit), (Some(Fen(200_000)), Some(true)));
    }

    #[test]
    fn cny_special_account_statement() {
        let (summary, statements, entries) =
            read_bytes(&fixture("camt053-v02-cny-special-account.xml"));
        assert_eq!(summary.version.as_deref(), Some("camt.053.001.02"));
        let s = &statements[0];
        assert_eq!(s.account.as_deref(), Some("9558800200135073266"));
        assert_eq!(s.currency.as_deref(), Some("CNY"));
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");
        assert_eq!(entries.len(), 3);

        let allocation = &entries[0];
        assert!(allocation.credit);
        assert_eq!(allocation.amount, Fen(50_000_000));
        assert_eq!(
            allocation.details[0].counterpart_name.as_deref(),
            Some("新疆维吾尔自治区财政厅国库处")
        );
        assert!(allocation.details[0].remittance[0].contains("国家助学金"));

        let batch = &entries[1];
        assert!(!batch.credit);
        assert_eq!(batch.amount, Fen(900_000));
        assert!(batch.details.is_empty());
        assert_eq!(
            batch.batch,
            Some(BatchInfo {
                msg_id: Some("B20261125000001".into()),
                pmt_inf_id: Some("B20261125000001".into()),
                nb_of_txs: Some(6),
                total: Some(Fen(900_000)),
                credit: Some(false),
            })
        );

        let returned = &entries[2];
        assert!(returned.credit);
        assert_eq!(returned.amount, Fen(150_000));
        assert_eq!(returned.bank_tx_code.as_deref(), Some("PMNT/ICDT/RRTN"));
        let d = &returned.details[0];
        assert_eq!(d.end_to_end_id.as_deref(), Some("AP000000000003"));
        assert_eq!(d.return_reason.as_deref(), Some("AC04"));
        assert_eq!(d.return_info, ["账户已销户"]);
        assert_eq!(
            d.counterpart_account.as_deref(),
            Some("6217000130000000035"),
            "not our own account"
        );
        assert_eq!(d.counterpart_name.as_deref(), Some("买买提·艾力"));
    }

    #[test]
    fn v08_with_a_prefixed_namespace() {
        let (summary, statements, entries) = read_bytes(&fixture("camt053-v08-prefixed.xml"));
        assert_eq!(summary.version.as_deref(), Some("camt.053.001.08"));
        let s = &statements[0];
        assert_eq!(s.account.as_deref(), Some("9558800200135073266"));
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");
        assert!(entries.iter().all(|e| e.status.as_deref() == Some("BOOK")));
        let debit = entries.iter().find(|e| !e.credit).unwrap();
        assert_eq!(
            debit.batch.as_ref().and_then(|b| b.pmt_inf_id.as_deref()),
            Some("B20261126000002")
        );
        assert_eq!(debit.details.len(), 2);
        assert_eq!(
            debit.details[1].end_to_end_id.as_deref(),
            Some("AP000000000008")
        );
        assert_eq!(debit.details[1].amount, Some(Fen(250_000)));
        assert_eq!(
            debit.details[1].counterpart_name.as_deref(),
            Some("古丽娜尔·买买提")
        );
        assert_eq!(
            debit.details[1].counterpart_account.as_deref(),
            Some("6228480010000000087")
        );
        assert_eq!(debit.booking_date, date("2026-11-26"), "from BookgDt/DtTm");
    }

    #[test]
    fn refusals_name_the_element() {
        let wrap = |ntry: &str| {
            format!(
                "<Document><BkToCstmrStmt><Stmt><Id>S</Id>\
                 <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy='CNY'>1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2026-11-25</Dt></Dt></Bal>\
                 <Ntry>{ntry}</Ntry></Stmt></BkToCstmrStmt></Document>"
            )
        };
        let e = read_all(wrap("<CdtDbtInd>DBIT</CdtDbtInd>").as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("Stmt[1]/Ntry[1]：缺少 Amt"),
            "{e}"
        );
        let e = read_all(wrap("<Amt Ccy='CNY'>1.00</Amt>").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("缺少 CdtDbtInd"), "{e}");
        let e = read_all(wrap("<Amt Ccy='CNY'>1.001</Amt><CdtDbtInd>DBIT</CdtDbtInd>").as_bytes())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("Ntry[1]/Amt：`1.001` 的第三位小数不是零"),
            "{e}"
        );
        let e = read_all(wrap("<Amt Ccy='CNY'>1</Amt><CdtDbtInd>CREDIT</CdtDbtInd>").as_bytes())
            .unwrap_err();
        assert!(e.to_string().contains("Ntry[1]/CdtDbtInd"), "{e}");
        // The opening balance is DBIT, so negative; an entry without Ccy takes the balance's.
        let (_, events) =
            read_all(wrap("<Amt>2.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>").as_bytes()).unwrap();
        let CamtEvent::Statement(s) = &events[0] else {
            panic!()
        };
        assert_eq!(s.balances[0].amount, Fen(-100));
        assert!(!s.balances[0].credit);
        let CamtEvent::Entry(en) = &events[1] else {
            panic!()
        };
        assert_eq!((en.amount, en.currency.as_str()), (Fen(250), "CNY"));

        let late = "<Document><BkToCstmrStmt><Stmt><Ntry><Amt Ccy='CNY'>1</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>\
                    <Bal/></Stmt></BkToCstmrStmt></Document>";
        let e = read_all(late.as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .contains("Stmt[1]/Bal[1]：余额（Bal）出现在第一笔分录之后"),
            "{e}"
        );

        let e = read_all(&b"<Document><CstmrPmtStsRpt/></Document>"[..]).unwrap_err();
        assert!(e.to_string().contains("pain.002"), "{e}");
        let e = read_all(&b"<Document><BkToCstmrAcctRpt/></Document>"[..]).unwrap_err();
        assert!(e.to_string().contains("camt.052"), "{e}");
    }

    #[test]
    fn several_statements_in_one_message() {
        let stmt = |id: &str, amt: &str| {
            format!(
                "<Stmt><Id>{id}</Id><Acct><Id><Othr><Id>1</Id></Othr></Id><Ccy>CNY</Ccy></Acct>\
                 <Ntry><Amt>{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry></Stmt>"
            )
        };
        let xml = format!(
            "<Document><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>{}{}</BkToCstmrStmt></Document>",
            stmt("S1", "1"),
            stmt("S2", "2")
        );
        let (summary, statements, entries) = read_bytes(xml.as_bytes());
        assert_eq!(summary.statements, 2);
        assert_eq!(statements[1].id.as_deref(), Some("S2"));
        assert_eq!(statements[1].message_id.as_deref(), Some("M"));
        assert!(statements[1].balances.is_empty());
        assert_eq!(entries[1].statement_id.as_deref(), Some("S2"));
        assert_eq!(entries[1].amount, Fen(200));
    }

    #[test]
    fn the_callback_can_stop_the_read() {
        let bytes = shared("camt.053/ing/example_camt.xml");
        let mut entries = 0;
        let e = read(&bytes[..], |event| match event {
            CamtEvent::Entry(_) if entries == 2 => Err("enough"),
            CamtEvent::Entry(_) => {
                entries += 1;
                Ok(())
            }
            CamtEvent::Statement(_) => Ok(()),
        })
        .unwrap_err();
        assert!(matches!(
            e,
            ReadError::Callback {
                cause: "enough",
                ..
            }
        ));
        assert!(e.to_string().contains("Ntry[3]"), "{e}");
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let bytes = shared("camt.053/ing/example_camt.xml");
        let end = bytes
            .windows(11)
            .rposition(|w| w == b"</Document>")
            .unwrap();
        for cut in (0..end).step_by(101) {
            let mut n = 0;
            let result = read(&bytes[..cut], |_| {
                n += 1;
                Ok::<(), Infallible>(())
            });
            assert!(result.is_err(), "cut at {cut} read as a success");
        }
    }

    /// The `Ntry` elements of a file, counted on its text (comments removed): what a reader
    /// must hand over, every one.
    fn ntry_count(bytes: &[u8]) -> usize {
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        while let Some(start) = text.find("<!--") {
            let end = text[start..].find("-->").map_or(text.len(), |e| start + e + 3);
            text.replace_range(start..end, "");
        }
        text.match_indices("Ntry")
            .filter(|(i, _)| {
                let before = &text[..*i];
                let tag_start = before.rfind('<').unwrap_or(0);
                let name = &text[tag_start + 1..*i];
                // `<Ntry` or `<prefix:Ntry`, followed by `>` or whitespace (not `</Ntry`, not `NtryDtls`).
                !name.starts_with('/')
                    && name.chars().all(|c| c.is_alphanumeric() || c == ':')
                    && (name.is_empty() || name.ends_with(':'))
                    && text[*i + 4..].starts_with(|c: char| c == '>' || c.is_whitespace())
            })
            .count()
    }

    #[test]
    fn every_entry_of_every_sample_is_read() {
        // The reader hands over every Ntry; which of them are stored is the ingest's business
        // (tests/statements.rs), and it must store every one of them too.
        let mut total = 0;
        for rel in SAMPLES {
            let bytes = shared(rel);
            let (summary, _, entries) = read_bytes(&bytes);
            let in_file = ntry_count(&bytes);
            assert!(in_file > 0, "{rel}");
            assert_eq!(entries.len(), in_file, "{rel}: every Ntry read");
            assert_eq!(summary.entries as usize, in_file, "{rel}");
            total += in_file;
        }
        assert_eq!(total, 13 + 10 + 9 + 2 + 4 + 13 + 1 + 6);
        assert_eq!(ntry_count(b"<a:Ntry><NtryRef/></a:Ntry><Ntry\n>"), 2);
    }

    #[test]
    fn a_balance_without_its_sign_is_read_as_stated_with_a_warning() {
        let (_, statements, entries) = read_bytes(&fixture("camt053-v02-balance-without-sign.xml"));
        let s = &statements[0];
        assert_eq!(s.balance(&["OPBD"]).map(|b| (b.amount, b.credit, b.sign_given)), Some((Fen(14_760_000), true, false)));
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("Bal[1]") && s.warnings[0].contains("没有 CdtDbtInd"), "{:?}", s.warnings);
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");
        // An entry without its sign is still refused: that money fact is missing.
        let e = read_all(&b"<Document><BkToCstmrStmt><Stmt><Ntry><Amt Ccy='CNY'>1.00</Amt><Sts>BOOK</Sts></Ntry></Stmt></BkToCstmrStmt></Document>"[..])
            .unwrap_err();
        assert!(e.to_string().contains("缺少 CdtDbtInd"), "{e}");
    }

    #[test]
    fn signed_summary_sums_are_read_and_a_summary_that_does_not_read_is_a_warning() {
        let (_, statements, entries) = read_bytes(&fixture("camt053-v02-signed-summary.xml"));
        let s = &statements[0];
        assert_eq!((s.summary.credit_sum, s.summary.debit_sum, s.summary.net), (Some(Fen(50_000)), Some(Fen(-53_000)), Some(Fen(-3_000))));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_balances_add_up(s, &entries, "OPBD", "CLBD");
        let xml = "<Document><BkToCstmrStmt><Stmt><TxsSummry><TtlNtries><NbOfNtries>ten</NbOfNtries></TtlNtries>\
                   <TtlCdtNtries><NbOfNtries>1</NbOfNtries><Sum>1.005</Sum></TtlCdtNtries></TxsSummry>\
                   <Ntry><Amt Ccy='CNY'>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry></Stmt></BkToCstmrStmt></Document>";
        let (_, statements, entries) = read_bytes(xml.as_bytes());
        assert_eq!(entries.len(), 1);
        let s = &statements[0];
        assert_eq!((s.summary.entries, s.summary.credits, s.summary.credit_sum), (None, Some(1), None));
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings.iter().any(|w| w.contains("TtlNtries/NbOfNtries")), "{:?}", s.warnings);
    }

    #[test]
    fn v08_entry_status_codes_and_only_book_is_booked() {
        let (summary, _, entries) = read_bytes(&fixture("camt054-v08-pending-then-booked.xml"));
        assert_eq!(summary.version.as_deref(), Some("camt.054.001.08"));
        let statuses: Vec<_> = entries.iter().map(|e| (e.status.as_deref().unwrap_or(""), e.booked())).collect();
        assert_eq!(statuses, [("PDNG", false), ("BOOK", true), ("BOOK", true), ("BOOK", true), ("INFO", false)]);
        assert_eq!(entries[0].booking_date, None, "a pending entry has no booking date yet");
        assert_eq!(entries[1].account_servicer_ref, entries[2].account_servicer_ref, "a return under its debit's reference");
        let (_, _, shared) = read_bytes(&fixture("camt053-v02-shared-references.xml"));
        assert_eq!(shared.len(), 8);
        let refs: std::collections::HashSet<_> = shared.iter().filter_map(|e| e.account_servicer_ref.clone()).collect();
        assert_eq!(refs.len(), 4, "eight entries under four references");
    }

    const SAMPLES: &[&str] = &[
        "camt.053/fffs_finland/FI_camt_053_sample.xml.xml",
        "camt.053/abn_amro/example_camt.xml",
        "camt.053/ing/example_camt.xml",
        "camt.053/postfinance/postfinance_camt053.xml",
        "camt.053/siauliu_bankas/statement_1.xml",
        "camt.053/postfinance_camt_parser/valid_example_v4.xml",
        "camt.054/postfinance/9_camt054 Return_Detailavisierung mit Sammelbuchung_ISO2019_v2019.xml",
        "camt.054/fffs_finland/FI_camt_054_sample.xml.xml",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = read_all(&bytes[..]);
            let mut xml = b"<Document><BkToCstmrStmt><Stmt><Ntry><NtryDtls><TxDtls>".to_vec();
            xml.extend_from_slice(&bytes);
            let _ = read_all(&xml[..]);
        }

        #[test]
        fn truncated_or_damaged_samples_never_panic(
            which in 0usize..SAMPLES.len(),
            cut in proptest::num::usize::ANY,
            flip in proptest::num::usize::ANY,
            byte in proptest::num::u8::ANY,
        ) {
            let mut bytes = shared(SAMPLES[which]);
            let end = bytes.windows(11).rposition(|w| w == b"</Document>").unwrap();
            let cut = cut % (end + 1);
            proptest::prop_assert!(read_all(&bytes[..cut]).is_err(), "cut at {} read as a success", cut);
            let i = flip % bytes.len();
            bytes[i] = byte;
            let _ = read_all(&bytes[..]);
        }
    }
}
