//! Issue 19: no English sentence in what finance staff read. The demo runs a whole cycle; its
//! printed output and every sheet of every report it wrote are scanned for ASCII words. Machine
//! names are allowed: anything with a digit, `_`, `/`, `*`, `@` or a file extension (references,
//! amounts, card and ID masks, reason codes, file names, paths, `invalid_card`), command-line
//! words and options, user names and bank profile names. Any other ASCII word of two letters or
//! more is reported with its line.

use calamine::{Data, Reader, Xlsx, open_workbook};
use std::process::Command;

/// Words a finance clerk sees as names, not as English: the command they type, the demo's users,
/// the bank profiles of the shipped configuration.
const MACHINE_NAMES: &[&str] = &["aidpay", "exceptions", "list", "resolve", "console", "echo", "clerk", "reviewer", "boc", "icbc"];

fn is_machine_token(t: &str) -> bool {
    t.starts_with("--")
        || t.chars().any(|c| c.is_ascii_digit() || matches!(c, '_' | '/' | '*' | '@' | '\\'))
        || [".csv", ".xml", ".xlsx", ".html", ".db", ".toml"].iter().any(|e| t.to_ascii_lowercase().contains(e))
}

/// The English words of a line (empty when there are none).
fn english_words(line: &str) -> Vec<String> {
    let mut found = Vec::new();
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
            if word.len() >= 2 && !MACHINE_NAMES.contains(&word) {
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
