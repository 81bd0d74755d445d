//! Bank file formats, pure: payments in and bytes out (writers take a `Write`), bytes in and
//! records out (readers take a `BufRead`). No database and no network in here.
//!
//! - [`pain001`]: ISO 20022 CustomerCreditTransferInitiation, versions .001.001.09 and .001.001.03;
//! - [`domestic`]: the banks' delimited 代发 templates, described by a configured profile;
//! - [`xml`]: the namespace-agnostic, DOCTYPE-refusing XML cursor and value parsers the ISO readers share;
//! - [`pain002`]: ISO 20022 payment status report reader (.001.03, .001.10), streaming per transaction;
//! - [`camt`]: ISO 20022 camt.053 statement and camt.054 notification reader, streaming per entry;
//! - [`detect`]: a received file's kind from its first bytes (pain.002, camt.053/054, other XML, not XML).

pub mod camt;
pub mod detect;
pub mod domestic;
pub mod pain001;
pub mod pain002;
pub mod xml;

use crate::domain::Fen;
use chrono::{DateTime, FixedOffset, NaiveDate};

/// The paying side of a batch: the special account.
#[derive(Debug, Clone, PartialEq)]
pub struct Debtor {
    pub account_no: String,
    pub name: String,
    pub bank_name: String,
    /// The account bank's CNAPS code (联行号), when known.
    pub cnaps: Option<String>,
}

/// One payment line of a batch file.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentLine {
    /// The unique end-to-end reference (≤ 35 characters, `[A-Za-z0-9-]`).
    pub end_to_end_id: String,
    pub amount: Fen,
    /// The aid card number (digits); the creditor account under `Othr/Id`.
    pub card_number: String,
    /// The card holder's name.
    pub holder: String,
    /// The card's bank as given in the grant list (a name or a CNAPS code).
    pub bank_name: String,
    /// The card bank's 12-digit CNAPS code, when known.
    pub cnaps: Option<String>,
    /// Remittance text, e.g. `2026秋 国家助学金`.
    pub remittance: String,
}

/// A batch as written to one file.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDoc {
    /// Unique batch id (≤ 35 characters): the message id and payment-information id.
    pub batch_id: String,
    pub created_at: DateTime<FixedOffset>,
    pub execution_date: NaiveDate,
    pub debtor: Debtor,
    pub payments: Vec<PaymentLine>,
}

impl BatchDoc {
    /// The exact control sum: the integer sum of the lines' fen.
    pub fn ctrl_sum(&self) -> Fen {
        self.payments.iter().map(|p| p.amount).sum()
    }
}
