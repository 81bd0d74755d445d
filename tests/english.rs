//! Issue 19: no English sentence in what finance staff read. The demo runs a whole cycle; its
//! printed output and every sheet of every report it wrote are scanned for ASCII words, and so
//! are the `ingest` and `import` output and the quarantine's `.reason.txt` for a set of files
//! that are refused (malformed, truncated, a DOCTYPE, another encoding, another account, …).
//! Machine names are allowed: anything with a digit, `_`, `/`, `*`, `@`, `=` or a file extension
//! (references, amounts, card and ID masks, reason codes, file names, paths, `invalid_card`,
//! `encoding="GBK"`), dotted configuration keys (`account.currency`), command-line words and
//! options, user names and bank profile names; codes in capitals (`RJCT`, `CNY`, `XML`, `GBK`)
//! and ISO 20022 element names (`CdtDbtInd`, `OrgnlMsgId`: capitals inside a word, or one of
//! [`ISO_ELEMENTS`]); text in backquotes (a command to type, a value or column quoted from the
//! file). What follows `技术原因：` is a library's own error, appended as the technical cause
//! after the Chinese sentence, and is not scanned. Any other ASCII word of two letters or more is
//! reported with its line.

use calamine::{Data, Reader, Xlsx, open_workbook};
use std::process::Command;

/// Words a finance clerk sees as names, not as English: the command they type, the demo's users,
/// the bank profiles of the shipped configuration.
const MACHINE_NAMES: &[&str] = &["aidpay", "exceptions", "list", "resolve", "console", "echo", "clerk", "reviewer", "boc", "icbc", "Excel"];

/// ISO 20022 element names too short to show capitals inside (`Amt`, not an English word).
const ISO_ELEMENTS: &[&str] = &["Document", "Stmt", "Ntfctn", "Ntry", "Bal", "Amt", "Ccy", "Sts", "Acct", "Id", "Tp", "Cd", "Dt", "Rsn"];

/// A code or an element name: all capitals (`RJCT`, `XML`), or a capital after a small letter
/// (`CdtDbtInd`), or a short element name.
fn is_code_or_element(word: &str) -> bool {
    let b = word.as_bytes();
    b.iter().all(u8::is_ascii_uppercase) || b.windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase()) || ISO_ELEMENTS.contains(&word)
}

/// The line without what is not finance-facing prose: the technical cause at its end, and
/// backquoted commands and values.
fn prose(line: &str) -> String {
    let line = line.split("技术原因：").next().unwrap_or_default();
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        // Even parts are outside backquotes; an unmatched backquote leaves the rest as prose.
        if i % 2 == 0 || line.matches('`').count() % 2 == 1 {
            out.push_str(part);
            out.push(' ');
        } else {
            out.push_str(" ");
        }
    }
    out
}

fn is_machine_token(t: &str) -> bool {
    t.starts_with("--")
        || t.chars().any(|c| c.is_ascii_digit() || matches!(c, '_' | '/' | '*' | '@' | '\\' | '='))
        // A dotted key (`account.currency`), not a sentence's full stop (trimmed before) nor `e.g`.
        || (t.contains('.') && t.split('.').all(|part| part.len() >= 2))
        || [".csv", ".xml", ".xlsx", ".html", ".db", ".toml"].iter().any(|e| t.to_ascii_lowercase().contains(e))
}

/// The English words of a line (empty when there are none).
fn english_words(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let line = prose(line);
    // Tokens end at white space and at every non-ASCII character (Chinese text, full-width
    // punctuation), so `密码 demo-clerk-2026）和` yields `demo-clerk-2026`.
    for token in line.split(|c: char| c.is_whitespace() || !c.is_ascii()) {
        if token.starts_with("--") {
            continue;
        }
        let token = token.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ',' | ';' | ':' | '\'' | '"' | '|' | '=' | '-' | '.' | '!' | '?' | '<' | '>'));
        if token.is_empty() || is_machine_token(token) {
            continue;
        }
        for word in token.split(|c: char| !c.is_ascii_alphabetic()) {
            if word.len() >= 2 && !MACHINE_NAMES.contains(&word) && !is_code_or_element(word) {
                found.push(word.to_string());
            }
        }
    }
    found
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        // Numbers, dates, booleans carry no words.
        _ => String::new(),
    }
}

#[test]
fn the_scanner_finds_english_and_passes_machine_names() {
    assert_eq!(english_words("卡号 6222 **** **** 9729: card number fails the Luhn check digit"), ["card", "number", "fails", "the", "Luhn", "check", "digit"]);
    assert!(english_words("批次 B20261202000001 [boc] 4 笔 合计 2587.50 元 → B20261202000001.xml（已交银行）").is_empty());
    assert!(english_words("/tmp/d/var/inbox/result_B2.csv [domestic_result:icbc]: 状态 19 条").is_empty());
    assert!(english_words("再次查看: aidpay --config /tmp/demo1/aidpay.toml exceptions list").is_empty());
    assert_eq!(english_words("没有待处理的异常 (no exceptions)"), ["no"]);
    // Element names, codes, keys, backquoted values and commands, the technical cause pass.
    assert!(english_words("Document/BkToCstmrStmt/Stmt[1]/Ntry[1]：缺少 CdtDbtInd；分录须有金额和借贷标记（Amt、Ccy）").is_empty());
    assert!(english_words("币种为 EUR，而本专户以 CNY 记账（account.currency）；XML 声明的编码为 encoding=\"GBK\"").is_empty());
    assert!(english_words("请先转换，例如 `iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8`；`abc` 不是十进制数").is_empty());
    assert!(english_words("第 12 字节：XML 格式错误；技术原因：syntax error: tag not closed").is_empty());
    assert_eq!(english_words("第 12 字节：not well-formed XML"), ["not", "well", "formed"]);
    assert_eq!(english_words("a `quoted` balance is missing"), ["balance", "is", "missing"]);
}

#[test]
fn the_demo_output_and_its_reports_have_no_english_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_aidpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIDPAY_") {
            c.env_remove(k);
        }
    }
    let out = c.env("AIDPAY_LOG", "error").args(["demo", "--dir"]).arg(dir.path().join("demo")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut problems = Vec::new();
    for (n, line) in stdout.lines().enumerate() {
        let words = english_words(line);
        if !words.is_empty() {
            problems.push(format!("demo output line {}: {words:?} in {line:?}", n + 1));
        }
    }
    let reports = dir.path().join("demo/var/reports");
    let mut sheets = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xlsx") {
            continue;
        }
        let mut book: Xlsx<_> = open_workbook(&path).unwrap();
        for name in book.sheet_names() {
            sheets += 1;
            let range = book.worksheet_range(&name).unwrap();
            for (r, row) in range.rows().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let text = cell_text(cell);
                    let words = english_words(&text);
                    if !words.is_empty() {
                        problems.push(format!("{} sheet {name} row {} column {}: {words:?} in {text:?}", path.display(), r + 1, c + 1));
                    }
                }
            }
        }
    }
    assert!(sheets >= 3, "the exception report (two sheets) and the reconciliation report: {sheets} sheets");
    assert!(problems.is_empty(), "English in finance-facing text:\n{}", problems.join("\n"));
}

/// Files a bank or a school might send that cannot be read: each is refused, and what finance
/// staff read about it — `ingest` and `import` output, the quarantine's `.reason.txt` — says why in
/// Chinese. Fixtures refused as they are, and damaged copies of a good statement.
fn unreadable_bank_files(env: &crate::util::TestEnv) -> Vec<std::path::PathBuf> {
    use crate::util::fixture;
    let mut files = Vec::new();
    for rel in [
        "bank/iso/pain002-doctype-entity.xml",
        "bank/iso/pain002-truncated.xml",
        "bank/iso/camt053-v02-utf16le-bom.xml",
        "bank/iso/camt053-v02-foreign-account-return.xml",
        "bank/iso/camt053-v02-eur-special-account.xml",
        "bank/iso/camt053-v08-excerpt-without-account.xml",
        "bank/boc-result-truncated.txt",
        "bank/icbc-result-malformed.csv",
        "bank/pain001/sample.pain.001.001.09.xml",
    ] {
        let to = env.path(&format!("in-{}", rel.rsplit('/').next().unwrap()));
        std::fs::copy(fixture(rel), &to).unwrap();
        files.push(to);
    }
    let statement = std::fs::read_to_string(fixture("bank/iso/camt053-v02-signed-summary.xml")).unwrap();
    let utf16be: Vec<u8> = statement.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let generated: Vec<(&str, Vec<u8>)> = vec![
        ("junk.bin", b"\x00\x01 not a bank file".to_vec()),
        ("latin1.txt", b"Zahlung \xe9\xff\xfe\xff fertig\n".to_vec()),
        ("utf16be.xml", utf16be),
        ("declared-gbk.xml", statement.replacen("encoding=\"UTF-8\"", "encoding=\"GBK\"", 1).into_bytes()),
        ("unsigned-entry.xml", statement.replacen("<CdtDbtInd>DBIT</CdtDbtInd>\n\t\t\t\t<Sts>", "<Sts>", 1).into_bytes()),
        ("bad-amount.xml", statement.replacen("</Amt>", "x</Amt>", 1).into_bytes()),
        ("three-decimals.xml", statement.replacen(".00</Amt>", ".001</Amt>", 1).into_bytes()),
        ("unknown-entity.xml", statement.replacen("</Id>", "&nbsp;</Id>", 1).into_bytes()),
        ("two-roots.xml", format!("{statement}\n<Document/>").into_bytes()),
        ("other-root.xml", b"<?xml version=\"1.0\"?><CMS><Pay>1</Pay></CMS>".to_vec()),
        ("camt052.xml", b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrAcctRpt/></Document>".to_vec()),
        ("cut.xml", statement.as_bytes()[..statement.len() / 2].to_vec()),
        ("cut-in-tag.xml", format!("{}<Amt Ccy=", &statement[..statement.find("<Ntry>").unwrap()]).into_bytes()),
        ("bad-sign.xml", statement.replacen("<CdtDbtInd>DBIT</CdtDbtInd>\n\t\t\t\t<Sts>", "<CdtDbtInd>DEBIT</CdtDbtInd>\n\t\t\t\t<Sts>", 1).into_bytes()),
    ];
    // A domestic result file of the shipped `icbc` profile whose bad line lies past the head that
    // tells its kind (a damaged line in the first 16 KiB makes it no result file at all).
    let good_lines: String = (1..=400).map(|i| format!("AP{i:012},6217000010000000001,100050,7,0000,\n")).collect();
    let domestic = |bad: &str| format!("R,B20261125000002,401,40120050\n{good_lines}{bad}\n").into_bytes();
    let generated: Vec<(&str, Vec<u8>)> = generated
        .into_iter()
        .chain([
            ("icbc-yuan.csv", domestic("AP000000000401,6217000010000000001,10.50,7,0000,")),
            ("icbc-status.csv", domestic("AP000000000401,6217000010000000001,100050,X,0000,")),
            ("icbc-columns.csv", domestic("AP000000000401,6217000010000000001,100050,7,0000,,extra")),
            ("icbc-short.csv", domestic("AP000000000401,6217000010000000001,100050")),
        ])
        .collect();
    for (name, bytes) in generated {
        let to = env.path(&format!("in-{name}"));
        std::fs::write(&to, bytes).unwrap();
        files.push(to);
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bank_files_and_grant_lists_are_explained_in_chinese() {
    use crate::util::{TestEnv, fixture};
    let env = TestEnv::new().await;
    let mut problems = Vec::new();
    let mut scan = |what: &str, text: &str| {
        for (n, line) in text.lines().enumerate() {
            let words = english_words(line);
            if !words.is_empty() {
                problems.push(format!("{what} line {}: {words:?} in {line:?}", n + 1));
            }
        }
    };
    let files = unreadable_bank_files(&env);
    for file in &files {
        let out = env.run(&["ingest", file.to_str().unwrap()], &[]).await;
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!file.exists(), "{name} is quarantined: {}", String::from_utf8_lossy(&out.stdout));
        scan(&format!("ingest {name}"), &String::from_utf8_lossy(&out.stdout));
    }
    let mut reasons = 0;
    for entry in std::fs::read_dir(env.path("var/quarantine")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".reason.txt") {
            reasons += 1;
            scan(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap());
        }
    }
    assert_eq!(reasons, files.len(), "one reason per refused file");

    // Grant lists that cannot be read at all: the import says why (exit 1, nothing applied).
    std::fs::write(env.path("broken.xlsx"), b"PK\x03\x04 not really a workbook").unwrap();
    std::fs::write(env.path("no-columns.csv"), "资助编号,姓名\nG-1,张三\n").unwrap();
    let lists = [
        fixture("grants/bad-header.csv"),
        fixture("grants/fuzz-xlsx-cell-beyond-excel-rows.xlsx"),
        fixture("grants/fuzz-xlsx-one-cell-spans-whole-sheet.xlsx"),
        env.path("broken.xlsx"),
        env.path("no-columns.csv"),
    ];
    for list in &lists {
        let out = env.run(&["import", list.to_str().unwrap()], &[("AIDPAY_LOG", "off")]).await;
        let name = list.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", String::from_utf8_lossy(&out.stdout));
        scan(&format!("import {name} (stdout)"), &String::from_utf8_lossy(&out.stdout));
        scan(&format!("import {name} (stderr)"), &String::from_utf8_lossy(&out.stderr));
    }
    assert!(problems.is_empty(), "English in finance-facing text:\n{}", problems.join("\n"));
}
