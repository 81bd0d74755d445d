//! A tiny indenting XML builder for the simulator's answer documents (pain.002, camt.053,
//! camt.054).
//!
//! It writes into a `String`, so nothing can fail half-way and no `unwrap` is needed; every text
//! is escaped with quick-xml's `escape` (`&`, `<`, `>`, `'`, `"`). Element order is the caller's
//! business: the writers follow the XSD sequences and their tests validate with `xmllint`.

use crate::domain::Fen;
use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use quick_xml::escape::escape;
use std::fmt::Write as _;

/// An XML document being built, two spaces of indentation per level.
pub(crate) struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    /// Starts a UTF-8 document with `<Document xmlns="namespace">` open.
    pub(crate) fn document(namespace: &str) -> Self {
        let mut x = Xml { out: String::with_capacity(4096), depth: 0 };
        x.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.start_attr("Document", "xmlns", namespace);
        x
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    pub(crate) fn start(&mut self, name: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>");
        self.depth += 1;
    }

    fn start_attr(&mut self, name: &str, attr: &str, value: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name} {attr}=\"{}\">", escape(value));
        self.depth += 1;
    }

    pub(crate) fn end(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    /// `<name>text</name>`, escaped.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>{}</{name}>", escape(text));
    }

    /// `<name Ccy="CNY">1000.50</name>`: an amount in yuan with two decimals. Amounts in ISO
    /// 20022 are never negative; the sign goes into a `CdtDbtInd` beside them.
    pub(crate) fn amount(&mut self, name: &str, amount: Fen) {
        self.indent();
        let _ = writeln!(self.out, "<{name} Ccy=\"CNY\">{}</{name}>", Fen(amount.0.abs()));
    }

    /// A `DecimalNumber` (control sums, totals): yuan with two decimals, no currency.
    pub(crate) fn decimal(&mut self, name: &str, amount: Fen) {
        self.leaf(name, &Fen(amount.0.abs()).to_string());
    }

    pub(crate) fn date(&mut self, name: &str, d: NaiveDate) {
        self.leaf(name, &d.format("%Y-%m-%d").to_string());
    }

    pub(crate) fn date_time(&mut self, name: &str, t: &DateTime<FixedOffset>) {
        self.leaf(name, &iso_date_time(t));
    }

    /// `<wrapper><Id><Othr><Id>number</Id></Othr></Id></wrapper>`-style account: a domestic
    /// number under `Othr/Id` (China has no IBAN). Writes only the `Id` part; the caller opens
    /// and closes the account element, so it can add `Ccy`/`Nm` after.
    pub(crate) fn account_id(&mut self, number: &str) {
        self.start("Id");
        self.start("Othr");
        self.leaf("Id", number);
        self.end("Othr");
        self.end("Id");
    }

    /// `Domn/Cd`, `Domn/Fmly/Cd`, `Domn/Fmly/SubFmlyCd` inside a `BkTxCd`.
    pub(crate) fn bank_transaction_code(&mut self, domain: &str, family: &str, sub_family: &str) {
        self.start("BkTxCd");
        self.start("Domn");
        self.leaf("Cd", domain);
        self.start("Fmly");
        self.leaf("Cd", family);
        self.leaf("SubFmlyCd", sub_family);
        self.end("Fmly");
        self.end("Domn");
        self.end("BkTxCd");
    }

    /// Closes `Document` and returns the bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.end("Document");
        self.out.into_bytes()
    }

    /// As [`finish`](Self::finish), with every `CNY` currency written as `currency` instead
    /// (a statement of an account kept in another currency).
    pub(crate) fn finish_with_currency(self, currency: Option<&str>) -> Vec<u8> {
        match currency {
            Some(c) if c != "CNY" => {
                let text = String::from_utf8(self.finish()).unwrap_or_default();
                text.replace("Ccy=\"CNY\"", &format!("Ccy=\"{c}\"")).replace("<Ccy>CNY</Ccy>", &format!("<Ccy>{c}</Ccy>")).into_bytes()
            }
            _ => self.finish(),
        }
    }
}

/// An `ISODateTime` with its offset (`2026-11-25T10:00:00+08:00`), or `Z` for UTC.
pub(crate) fn iso_date_time(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Characters cut to at most `max` (a `MaxNNText` counts characters, not bytes). An empty or
/// blank text gives `None`: ISO text types have `minLength 1`.
pub(crate) fn max_text(text: &str, max: usize) -> Option<&str> {
    if text.trim().is_empty() {
        return None;
    }
    match text.char_indices().nth(max) {
        Some((cut, _)) => Some(&text[..cut]),
        None => Some(text),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_cuts_by_characters() {
        let mut x = super::Xml::document("urn:x");
        x.leaf("Nm", "Tom & <Jerry>");
        let text = String::from_utf8(x.finish()).unwrap_or_default();
        assert!(text.contains("<Nm>Tom &amp; &lt;Jerry&gt;</Nm>"), "{text}");
        assert!(text.ends_with("</Document>\n"));
        assert_eq!(super::max_text("户名不符", 2), Some("户名"));
        assert_eq!(super::max_text("  ", 2), None);
    }
}
