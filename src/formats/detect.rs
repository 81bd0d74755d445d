//! What kind of file the bank sent, from its first few kilobytes: an ISO 20022 answer
//! (pain.002, camt.053, camt.054), one of our own pain.001 coming back, some other XML, or not
//! XML at all (then the caller tries the configured domestic bank profiles).
//!
//! Content decides, never the file name: banks name answer files freely (`RET_0815.xml`,
//! `20261125.dat`), and a misnamed file must not go to the wrong reader.
//!
//! # How
//!
//! Skip a UTF-8 byte-order mark, whitespace, the XML declaration, comments and processing
//! instructions; the root element must be `Document` (any prefix, any or no namespace); its
//! first child element names the message:
//!
//! | first child of `Document` | message | [`FileKind`] |
//! |---|---|---|
//! | `CstmrPmtStsRpt` | pain.002 CustomerPaymentStatusReport | [`FileKind::Pain002`] |
//! | `BkToCstmrStmt` | camt.053 BankToCustomerStatement | [`FileKind::Camt053`] |
//! | `BkToCstmrDbtCdtNtfctn` | camt.054 BankToCustomerDebitCreditNotification | [`FileKind::Camt054`] |
//! | `CstmrCdtTrfInitn` | pain.001 CustomerCreditTransferInitiation | [`FileKind::Pain001`] |
//!
//! When the head ends before that child (a huge comment, a cut buffer), the namespace URN of
//! the root decides (`urn:iso:std:iso:20022:tech:xsd:camt.053.001.08` → camt.053). The element
//! wins over the namespace when both are there, because namespaces are the part real files get
//! wrong (Cross River's `Xmlns=`). A `<!DOCTYPE` does not stop detection: the file is still
//! classified, and the reader then refuses it with a clear error (see [`super::xml`]).

use quick_xml::events::Event;

/// How much of the file [`detect`] needs; more is ignored.
pub const HEAD_LEN: usize = 8 * 1024;

/// The kind of a received file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// pain.002 payment status report: read with [`super::pain002::read`].
    Pain002,
    /// camt.053 account statement: read with [`super::camt::read`].
    Camt053,
    /// camt.054 debit/credit notification: read with [`super::camt::read`].
    Camt054,
    /// pain.001 credit transfer initiation (e.g. our own batch file echoed back).
    Pain001,
    /// XML, but none of the above (another ISO message, a bank's proprietary XML, or XML this
    /// sniffer cannot read, e.g. UTF-16).
    UnknownXml,
    /// Not XML: a domestic delimited result file, a spreadsheet, anything else.
    NotXml,
}

/// Classifies a file from its first bytes (give it at least the first [`HEAD_LEN`] bytes, or
/// the whole file if shorter). Never fails and never panics: anything unrecognisable is
/// [`FileKind::UnknownXml`] or [`FileKind::NotXml`].
pub fn detect(head: &[u8]) -> FileKind {
    let head = &head[..head.len().min(HEAD_LEN)];
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        // UTF-16 with a byte-order mark: XML most likely, but not something we read.
        return FileKind::UnknownXml;
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => {}
        _ => return FileKind::NotXml,
    }

    let mut reader = quick_xml::Reader::from_reader(body);
    let config = reader.config_mut();
    config.check_end_names = false;
    let mut buf = Vec::new();
    let mut namespace: Option<String> = None;
    let mut root_seen = false;
    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(_) => break,
        };
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let qname = start.name();
                let (local, prefix) = qname.decompose();
                let local = local.as_ref();
                if let Some(kind) = kind_of_message_element(local) {
                    return kind;
                }
                if root_seen {
                    // The first child of the root is not a message we know.
                    break;
                }
                root_seen = true;
                if local != "Document" {
                    break;
                }
                for attr in start.attributes().with_checks(false).flatten() {
                    let key = attr.key.as_ref();
                    let wanted = match prefix {
                        None => key == "xmlns",
                        Some(p) => key.strip_prefix("xmlns:") == Some(p.as_ref()),
                    };
                    if wanted {
                        namespace = Some(attr.value.to_string());
                    }
                }
            }
            Event::End(_) | Event::Eof => break,
            Event::Text(text) => {
                if !text.trim().is_empty() {
                    if !root_seen {
                        return FileKind::NotXml;
                    }
                    break;
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                if !root_seen {
                    return FileKind::NotXml;
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    namespace
        .as_deref()
        .and_then(kind_of_namespace)
        .unwrap_or(FileKind::UnknownXml)
}

/// The text encoding of a received file, as far as its first bytes tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (with or without a byte-order mark), or plain ASCII: what the XML readers take.
    Utf8,
    /// Not valid UTF-8 and not XML: possibly GBK, which a domestic profile may declare.
    Legacy,
    /// UTF-16, little- or big-endian, with or without a byte-order mark.
    Utf16 { big_endian: bool, bom: bool },
    /// UTF-32, little- or big-endian, with or without a byte-order mark.
    Utf32 { big_endian: bool, bom: bool },
    /// EBCDIC (`<?xm` as `4C 6F A7 94`), from a mainframe.
    Ebcdic,
    /// An XML document whose declaration names another encoding (`encoding="GBK"`).
    DeclaredXml(String),
}

impl Encoding {
    /// The encoding's name as `iconv -f` takes it.
    fn iconv_name(&self) -> String {
        match self {
            Encoding::Utf8 => "UTF-8".into(),
            Encoding::Legacy => "GBK".into(),
            Encoding::Utf16 { big_endian: false, .. } => "UTF-16LE".into(),
            Encoding::Utf16 { big_endian: true, .. } => "UTF-16BE".into(),
            Encoding::Utf32 { big_endian: false, .. } => "UTF-32LE".into(),
            Encoding::Utf32 { .. } => "UTF-32BE".into(),
            Encoding::Ebcdic => "IBM037".into(),
            Encoding::DeclaredXml(e) => e.clone(),
        }
    }
}

/// The encoding of a file from its first bytes: byte-order marks, the zero bytes of UTF-16 and
/// UTF-32 text without one, EBCDIC, and an XML declaration naming another encoding.
pub fn encoding(head: &[u8]) -> Encoding {
    let head = &head[..head.len().min(HEAD_LEN)];
    if head.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Encoding::Utf32 { big_endian: false, bom: true };
    }
    if head.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Encoding::Utf32 { big_endian: true, bom: true };
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return Encoding::Utf16 { big_endian: false, bom: true };
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Encoding::Utf16 { big_endian: true, bom: true };
    }
    if head.starts_with(&[0x4C, 0x6F, 0xA7, 0x94]) {
        return Encoding::Ebcdic;
    }
    // Without a mark: text in UTF-16/32 has a zero byte beside (nearly) every ASCII character.
    let sample = &head[..head.len().min(1024)];
    if sample.len() >= 4 {
        let zero_at = |phase: usize, step: usize| {
            let (n, z) = sample.iter().enumerate().filter(|(i, _)| i % step == phase).fold((0, 0), |(n, z), (_, b)| (n + 1, z + usize::from(*b == 0)));
            n > 0 && z * 10 >= n * 9
        };
        if sample.len() >= 8 && zero_at(1, 4) && zero_at(2, 4) && zero_at(3, 4) && !zero_at(0, 4) {
            return Encoding::Utf32 { big_endian: false, bom: false };
        }
        if sample.len() >= 8 && zero_at(0, 4) && zero_at(1, 4) && zero_at(2, 4) && !zero_at(3, 4) {
            return Encoding::Utf32 { big_endian: true, bom: false };
        }
        if zero_at(1, 2) && !zero_at(0, 2) {
            return Encoding::Utf16 { big_endian: false, bom: false };
        }
        if zero_at(0, 2) && !zero_at(1, 2) {
            return Encoding::Utf16 { big_endian: true, bom: false };
        }
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace()).map_or(&body[..0], |i| &body[i..]);
    if trimmed.starts_with(b"<?xml") {
        let decl_end = trimmed.iter().position(|&b| b == b'>').unwrap_or(trimmed.len());
        let decl = String::from_utf8_lossy(&trimmed[..decl_end]);
        if let Some(at) = decl.find("encoding") {
            let rest = decl[at + "encoding".len()..].trim_start().trim_start_matches('=').trim_start();
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
            if let Some(q) = quote {
                let value: String = rest[1..].chars().take_while(|c| *c != q).collect();
                let v = value.trim();
                if !v.eq_ignore_ascii_case("utf-8") && !v.eq_ignore_ascii_case("utf8") && !v.is_empty() {
                    return Encoding::DeclaredXml(v.to_string());
                }
            }
        }
    }
    // A cut multi-byte character at the end of the head is no reason to call it legacy.
    match std::str::from_utf8(body) {
        Ok(_) => Encoding::Utf8,
        Err(e) if e.error_len().is_none() => Encoding::Utf8,
        Err(_) => Encoding::Legacy,
    }
}

/// Why a file cannot be read for its encoding, saying what was found and how to convert it;
/// `None` for UTF-8 and for files that may be GBK (a domestic profile's encoding decides those).
pub fn encoding_problem(head: &[u8]) -> Option<String> {
    let found = encoding(head);
    let what = match &found {
        Encoding::Utf8 | Encoding::Legacy => return None,
        Encoding::Utf16 { big_endian, bom } => format!(
            "文件为 UTF-16 编码（{}，{}）",
            if *big_endian { "大端序" } else { "小端序" },
            if *bom { "带字节顺序标记 BOM" } else { "无字节顺序标记 BOM：每个字符旁都有一个零字节" }
        ),
        Encoding::Utf32 { big_endian, bom } => format!(
            "文件为 UTF-32 编码（{}，{}）",
            if *big_endian { "大端序" } else { "小端序" },
            if *bom { "带字节顺序标记 BOM" } else { "无字节顺序标记 BOM" }
        ),
        Encoding::Ebcdic => "文件为 EBCDIC 编码（大型主机使用的编码）".to_string(),
        Encoding::DeclaredXml(e) => format!("XML 声明的编码为 encoding=\"{e}\""),
    };
    let from = match &found {
        Encoding::Utf16 { bom: true, .. } => "UTF-16".to_string(),
        other => other.iconv_name(),
    };
    Some(format!(
        "{what}；ISO 20022 文件只读取 UTF-8 编码（国内结果文件按其银行配置的编码读取）：请先转换，\
         例如 `iconv -f {from} -t UTF-8 FILE > FILE.utf8`（XML 文件还须把声明改为 encoding=\"UTF-8\"），\
         再导入转换后的文件"
    ))
}

/// Bytes that are text in neither UTF-8 nor GBK (the encodings aidpay reads), e.g. Latin-1 or
/// Big5: the reason to give when no reader took the file.
/// `bytes` may be the head of a longer file: a character cut at its end does not count.
pub fn neither_utf8_nor_gbk(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => return false,
        Err(e) if e.error_len().is_none() => return false,
        Err(_) => {}
    }
    let gbk_ok = |b: &[u8]| !encoding_rs::GBK.decode_without_bom_handling(b).1;
    !(gbk_ok(bytes) || (!bytes.is_empty() && gbk_ok(&bytes[..bytes.len() - 1])))
}

/// The kind a message element (the first child of `Document`) stands for.
fn kind_of_message_element(local: &str) -> Option<FileKind> {
    Some(match local {
        "CstmrPmtStsRpt" => FileKind::Pain002,
        "BkToCstmrStmt" => FileKind::Camt053,
        "BkToCstmrDbtCdtNtfctn" => FileKind::Camt054,
        "CstmrCdtTrfInitn" => FileKind::Pain001,
        _ => return None,
    })
}

/// The kind a namespace URN stands for (`…:xsd:pain.002.001.10` → pain.002).
fn kind_of_namespace(ns: &str) -> Option<FileKind> {
    let id = super::xml::message_id_of_namespace(ns)?;
    Some(if id.starts_with("pain.002.") {
        FileKind::Pain002
    } else if id.starts_with("camt.053.") {
        FileKind::Camt053
    } else if id.starts_with("camt.054.") {
        FileKind::Camt054
    } else if id.starts_with("pain.001.") {
        FileKind::Pain001
    } else {
        return None;
    })
}

/// A human description of a message element, for "this is X, not Y" errors.
pub fn describe_message_element(local: &str) -> String {
    match local {
        "CstmrPmtStsRpt" => "pain.002 支付状态报告（CstmrPmtStsRpt）".to_string(),
        "BkToCstmrStmt" => "camt.053 对账单（BkToCstmrStmt）".to_string(),
        "BkToCstmrDbtCdtNtfctn" => "camt.054 借贷记通知（BkToCstmrDbtCdtNtfctn）".to_string(),
        "BkToCstmrAcctRpt" => "camt.052 账户报告（BkToCstmrAcctRpt）".to_string(),
        "CstmrCdtTrfInitn" => "pain.001 付款指令（CstmrCdtTrfInitn）".to_string(),
        "" => "空的 Document".to_string(),
        other => format!("未知报文（{}）", super::xml::quoted(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rel: &str) -> Vec<u8> {
        let path = format!(
            "{}/../shared/iso20022/samples/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}; the shared/ folder must sit beside the repository")
        })
    }

    #[test]
    fn every_real_sample_is_classified() {
        let cases = [
            (
                "pain.002/oca_boi/test-sepa-pain-unpaid.xml",
                FileKind::Pain002,
            ),
            (
                "pain.002/nordea/pain_002_v3_txn_reject.xml",
                FileKind::Pain002,
            ),
            (
                "pain.002/cross_river/pain_002_transaction_rejected.xml",
                FileKind::Pain002,
            ),
            (
                "pain.002/postfinance/3_pain002 B-Level und C-Level RJCT_ISO2019_v2019.xml",
                FileKind::Pain002,
            ),
            (
                "camt.053/fffs_finland/FI_camt_053_sample.xml.xml",
                FileKind::Camt053,
            ),
            ("camt.053/abn_amro/example_camt.xml", FileKind::Camt053),
            ("camt.053/ing/example_camt.xml", FileKind::Camt053),
            (
                "camt.053/postfinance/postfinance_camt053.xml",
                FileKind::Camt053,
            ),
            ("camt.053/siauliu_bankas/statement_1.xml", FileKind::Camt053),
            (
                "camt.053/postfinance_camt_parser/valid_example_v4.xml",
                FileKind::Camt053,
            ),
            (
                "camt.054/postfinance/9_camt054 Return_Detailavisierung mit Sammelbuchung_ISO2019_v2019.xml",
                FileKind::Camt054,
            ),
            (
                "camt.054/fffs_finland/FI_camt_054_sample.xml.xml",
                FileKind::Camt054,
            ),
        ];
        for (rel, kind) in cases {
            let bytes = sample(rel);
            assert_eq!(detect(&bytes), kind, "{rel}");
            // The first HEAD_LEN bytes are enough.
            assert_eq!(
                detect(&bytes[..bytes.len().min(HEAD_LEN)]),
                kind,
                "{rel} (head)"
            );
        }
        let listed = std::fs::read_to_string(format!(
            "{}/../shared/iso20022/samples/SOURCES.md",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("SOURCES.md");
        let rows = listed
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(".xml`"))
            .count();
        assert_eq!(
            rows,
            cases.len(),
            "a sample was added to SOURCES.md: add it here"
        );
    }

    #[test]
    fn our_own_pain001_fixtures() {
        for rel in ["sample.pain.001.001.03.xml", "sample.pain.001.001.09.xml"] {
            let path = format!("{}/fixtures/bank/pain001/{rel}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).expect("pain.001 fixture");
            assert_eq!(detect(&bytes), FileKind::Pain001, "{rel}");
        }
    }

    #[test]
    fn prefixes_bom_comments_and_namespace_fallback() {
        let ns = "urn:iso:std:iso:20022:tech:xsd:";
        assert_eq!(
            detect(format!("\u{feff}<?xml version='1.0'?>\n<!-- x -->\n<p:Document xmlns:p='{ns}pain.002.001.03'><p:CstmrPmtStsRpt>").as_bytes()),
            FileKind::Pain002
        );
        assert_eq!(
            detect(b"<Document><BkToCstmrDbtCdtNtfctn><GrpHdr>"),
            FileKind::Camt054
        );
        // The head ends inside a long comment: the namespace decides.
        let long = format!(
            "<Document xmlns='{ns}camt.053.001.08'><!-- {} -->",
            "x".repeat(HEAD_LEN)
        );
        assert_eq!(detect(long.as_bytes()), FileKind::Camt053);
        // The element wins over a wrong namespace.
        assert_eq!(
            detect(format!("<Document xmlns='{ns}camt.053.001.02'><CstmrPmtStsRpt>").as_bytes()),
            FileKind::Pain002
        );
        // A DOCTYPE does not hide the kind; the reader refuses it later.
        assert_eq!(
            detect(b"<?xml version='1.0'?><!DOCTYPE Document [<!ENTITY a 'b'>]><Document><CstmrPmtStsRpt>"),
            FileKind::Pain002
        );
    }

    #[test]
    fn other_xml_and_not_xml() {
        assert_eq!(detect(b"<CMS><eb><pub>"), FileKind::UnknownXml);
        assert_eq!(
            detect(b"<Document><BkToCstmrAcctRpt>"),
            FileKind::UnknownXml
        );
        assert_eq!(detect(b"<Document/>"), FileKind::UnknownXml);
        assert_eq!(detect(b"\xff\xfe<\0D\0"), FileKind::UnknownXml);
        assert_eq!(detect(b""), FileKind::NotXml);
        assert_eq!(detect(b"   \n"), FileKind::NotXml);
        assert_eq!(
            detect("B20261125000001|3|1500.00|\n序号|收款人账号|".as_bytes()),
            FileKind::NotXml
        );
        assert_eq!(detect(b"PK\x03\x04"), FileKind::NotXml);
        for rel in ["boc-result-mixed.txt", "icbc-result-mixed.csv"] {
            let path = format!("{}/fixtures/bank/{rel}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).expect("domestic fixture");
            assert_eq!(detect(&bytes), FileKind::NotXml, "{rel}");
        }
    }

    /// The hand-written fixtures in `fixtures/bank/iso/`: each is classified, and the well-formed
    /// ones are valid against the ISO XSD of their version (`xmllint --schema`).
    #[test]
    fn hand_written_fixtures_are_schema_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bank/iso");
        let cases = [
            (
                "pain002-v03-prefixed-mixed.xml",
                FileKind::Pain002,
                Some("pain.002.001.03"),
            ),
            (
                "pain002-v10-group-rjct.xml",
                FileKind::Pain002,
                Some("pain.002.001.10"),
            ),
            (
                "camt053-v02-cny-special-account.xml",
                FileKind::Camt053,
                Some("camt.053.001.02"),
            ),
            (
                "camt053-v08-prefixed.xml",
                FileKind::Camt053,
                Some("camt.053.001.08"),
            ),
            ("pain002-truncated.xml", FileKind::Pain002, None),
            ("pain002-doctype-entity.xml", FileKind::Pain002, None),
            // Issue 13: real banks' statements.
            (
                "camt053-v02-shared-references.xml",
                FileKind::Camt053,
                Some("camt.053.001.02"),
            ),
            (
                "camt054-v08-pending-then-booked.xml",
                FileKind::Camt054,
                Some("camt.054.001.08"),
            ),
            (
                "camt053-v02-foreign-account-return.xml",
                FileKind::Camt053,
                Some("camt.053.001.02"),
            ),
            (
                "camt053-v02-eur-special-account.xml",
                FileKind::Camt053,
                Some("camt.053.001.02"),
            ),
            (
                "camt053-v02-signed-summary.xml",
                FileKind::Camt053,
                Some("camt.053.001.02"),
            ),
            // Not schema-valid on purpose: what real banks send.
            ("camt053-v02-balance-without-sign.xml", FileKind::Camt053, None),
            ("camt053-v08-excerpt-without-account.xml", FileKind::Camt053, None),
            ("pain002-v03-group-rjct-unnamed.xml", FileKind::Pain002, None),
            ("camt053-v02-utf16le-bom.xml", FileKind::UnknownXml, None),
        ];
        for (name, kind, xsd) in cases {
            let path = format!("{dir}/{name}");
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(detect(&bytes), kind, "{name}");
            let Some(xsd) = xsd else { continue };
            crate::formats::xml::schema::assert_valid(&bytes, &format!("{xsd}.xsd"));
        }
        let listed = std::fs::read_to_string(format!("{dir}/README.md")).expect("README.md");
        for entry in std::fs::read_dir(dir).expect("fixtures/bank/iso") {
            let name = entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".xml") {
                assert!(
                    cases.iter().any(|c| c.0 == name),
                    "{name} is not checked here"
                );
                assert!(
                    listed.contains(&format!("`{name}`")),
                    "{name} is not in README.md"
                );
            }
        }
    }

    #[test]
    fn encodings_are_named_with_the_way_to_convert() {
        let xml = "<?xml version=\"1.0\"?><Document><BkToCstmrStmt>";
        let utf16le: Vec<u8> = xml.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let utf16be: Vec<u8> = xml.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let with_bom = |bom: &[u8], body: &[u8]| [bom, body].concat();
        let utf32le: Vec<u8> = xml.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        let cases: Vec<(Vec<u8>, Encoding, &str)> = vec![
            (with_bom(&[0xFF, 0xFE], &utf16le), Encoding::Utf16 { big_endian: false, bom: true }, "iconv -f UTF-16 -t UTF-8"),
            (with_bom(&[0xFE, 0xFF], &utf16be), Encoding::Utf16 { big_endian: true, bom: true }, "iconv -f UTF-16 -t UTF-8"),
            (utf16le.clone(), Encoding::Utf16 { big_endian: false, bom: false }, "iconv -f UTF-16LE -t UTF-8"),
            (utf16be.clone(), Encoding::Utf16 { big_endian: true, bom: false }, "iconv -f UTF-16BE -t UTF-8"),
            (utf32le, Encoding::Utf32 { big_endian: false, bom: false }, "iconv -f UTF-32LE -t UTF-8"),
            (b"\x4c\x6f\xa7\x94\x40".to_vec(), Encoding::Ebcdic, "EBCDIC"),
            (b"<?xml version='1.0' encoding='ISO-8859-1'?><Document>".to_vec(), Encoding::DeclaredXml("ISO-8859-1".into()), "iconv -f ISO-8859-1 -t UTF-8"),
            (b"<?xml version=\"1.0\" encoding=\"GBK\"?><Document>".to_vec(), Encoding::DeclaredXml("GBK".into()), "iconv -f GBK -t UTF-8"),
        ];
        for (bytes, found, advice) in cases {
            assert_eq!(encoding(&bytes), found, "{advice}");
            let why = encoding_problem(&bytes).unwrap_or_default();
            assert!(why.contains(advice) && why.contains("UTF-8"), "{why}");
        }
        let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bank/iso/camt053-v02-utf16le-bom.xml")).unwrap();
        assert!(encoding_problem(&fixture).unwrap().starts_with("文件为 UTF-16 编码（小端序，带字节顺序标记 BOM）"));
        // What aidpay reads: UTF-8 (BOM or not), ASCII, GBK result files.
        for ok in [&b"\xEF\xBB\xBF<Document>"[..], b"<?xml version='1.0' encoding='utf-8'?><D/>", "<D>资助</D>".as_bytes(), b"H,1,2\n"] {
            assert_eq!(encoding_problem(ok), None);
        }
        let gbk = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bank/boc-result-mixed.txt")).unwrap();
        assert_eq!(encoding(&gbk), Encoding::Legacy);
        assert_eq!(encoding_problem(&gbk), None);
        assert!(!neither_utf8_nor_gbk(&gbk));
        // A character cut at the end of the head is not an encoding problem.
        assert!(!neither_utf8_nor_gbk(&"资助".as_bytes()[..4]));
        assert!(neither_utf8_nor_gbk(b"Caf\xe9 \xff\xfe\xff total"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = detect(&bytes);
            let _ = encoding_problem(&bytes);
            let _ = neither_utf8_nor_gbk(&bytes);
            let mut xml = b"<Document>".to_vec();
            xml.extend_from_slice(&bytes);
            let _ = detect(&xml);
        }
    }
}
