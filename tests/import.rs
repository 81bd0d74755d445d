//! Issue 2: grant intake. Counts that add up, every rule flagged, re-import idempotent,
//! conflicts never overwrite, GBK/BOM/XLSX, and files that cannot be read apply nothing.

use crate::util::{TestEnv, assert_counts_add_up, fixture, import_one};
use serde_json::Value;
use std::collections::BTreeSet;

fn kinds(list: &Value) -> BTreeSet<String> {
    list.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn utf8_list_counts_add_up_and_every_rule_is_flagged() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["rows"].as_u64(), s["imported"].as_u64(), s["held"].as_u64(), s["rejected"].as_u64()), (Some(27), Some(23), Some(6), Some(4)));
    assert_eq!(s["encoding"], "utf-8");

    // Unreadable rows: rejected with their line (the file's physical row, header = 1, as Excel
    // and WPS show it) and column.
    let errors: Vec<(u64, String)> = s["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        errors,
        vec![(25, "金额".into()), (26, "学段".into()), (27, "资助编号".into()), (28, "公示截止日期".into())]
    );

    // Held grants: one exception of each intake kind, for the right grant.
    let list = env.json(&["exceptions", "list"], 0);
    assert_eq!(
        kinds(&list),
        ["amount_off_standard", "duplicate_grant", "holder_mismatch", "invalid_card", "invalid_id_number", "priority_not_top_tier"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let by_kind = |k: &str| list.as_array().unwrap().iter().find(|e| e["kind"] == k).unwrap().clone();
    assert_eq!(by_kind("invalid_id_number")["grant_id"], "2026Q-0017");
    assert_eq!(by_kind("invalid_card")["grant_id"], "2026Q-0018");
    assert_eq!(by_kind("holder_mismatch")["grant_id"], "2026Q-0019");
    assert_eq!(by_kind("amount_off_standard")["amount"], "1000.00");
    assert_eq!(by_kind("duplicate_grant")["grant_id"], "2026Q-0023", "the later grant is the duplicate");
    for e in list.as_array().unwrap() {
        assert_eq!(e["status"], "open");
        assert_eq!(e["severity"], "medium");
        for key in ["id", "kind", "severity", "status", "grant_id", "payment_ref", "reason_code", "amount", "detail", "created_at"] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }

    // The minority name with another middle dot in the holder column is valid (names normalised).
    let store = env.store().await;
    let g = store.grant("2026Q-0014").await.unwrap().unwrap();
    assert_eq!((g.name.as_str(), g.card_holder.as_str(), g.status.as_str()), ("买买提·艾力", "买买提·艾力", "valid"));
    assert_eq!(g.card_number.len(), 19, "spaces in the card number removed");
    let gbk = store.grant("2026Q-0015").await.unwrap().unwrap();
    assert_eq!(gbk.amount_fen, 115_000, "1,150.00 parsed exactly");
    let counts: Vec<(String, i64)> = store.count_grants_by_status().await.unwrap();
    assert_eq!(counts, vec![("held".into(), 6), ("valid".into(), 17)]);
}

#[tokio::test]
async fn reimporting_the_same_file_changes_nothing() {
    let env = TestEnv::new().await;
    let first = import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let exceptions_before = env.json(&["exceptions", "list", "--status", "all"], 0);
    let again = import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    assert_counts_add_up(&again);
    assert_eq!(again["unchanged"], first["imported"], "{again}");
    assert_eq!((again["imported"].as_u64(), again["conflicts"].as_u64(), again["held"].as_u64()), (Some(0), Some(0), Some(0)));
    assert_eq!(again["rejected"], first["rejected"], "unreadable rows are still reported");
    assert_eq!(env.json(&["exceptions", "list", "--status", "all"], 0), exceptions_before);
}

#[tokio::test]
async fn a_changed_row_is_a_conflict_never_an_overwrite() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    // Once paid out, a grant's content is fixed (before any attempt a re-send supersedes it:
    // tests/owners.rs).
    env.json(&["batch"], 0);
    let s = import_one(&env, &fixture("grants/conflict.csv"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["rows"].as_u64(), s["unchanged"].as_u64(), s["conflicts"].as_u64()), (Some(3), Some(1), Some(2)));

    let conflicts = env.json(&["exceptions", "list", "--kind", "import_conflict"], 0);
    let list = conflicts.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let amount = list.iter().find(|e| e["grant_id"] == "2026Q-0002").unwrap();
    assert!(amount["detail"].as_str().unwrap().contains("金额 1000.00 → 1250.00"), "{amount}");
    let card = list.iter().find(|e| e["grant_id"] == "2026Q-0003").unwrap();
    assert!(card["detail"].as_str().unwrap().contains("卡号"), "{card}");

    let store = env.store().await;
    assert_eq!(store.grant("2026Q-0002").await.unwrap().unwrap().amount_fen, 100_000, "stored grant kept");

    // The same conflicting file again: still conflicts, no second exception.
    let again = import_one(&env, &fixture("grants/conflict.csv"), &[], 0);
    assert_eq!(again["conflicts"], 2);
    assert_eq!(env.json(&["exceptions", "list", "--kind", "import_conflict"], 0).as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn gbk_is_detected_and_a_wrong_encoding_applies_nothing() {
    let env = TestEnv::new().await;
    let wrong = import_one(&env, &fixture("grants/gbk.csv"), &["--encoding", "utf-8"], 1);
    let error = wrong["error"].as_str().unwrap();
    assert!(error.contains("gbk.csv") && error.contains("encoding"), "{error}");
    assert!(env.store().await.count_grants_by_status().await.unwrap().is_empty(), "nothing applied");

    let s = import_one(&env, &fixture("grants/gbk.csv"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["encoding"].as_str(), s["imported"].as_u64(), s["held"].as_u64()), (Some("gbk"), Some(8), Some(1)));
    let g = env.store().await.grant("2027S-0007").await.unwrap().unwrap();
    assert_eq!(g.name, "热依拉·买买提");
    assert_eq!(g.period, "2027春");

    let forced = import_one(&env, &fixture("grants/gbk.csv"), &["--encoding", "gbk"], 0);
    assert_eq!(forced["unchanged"], 8);
}

#[tokio::test]
async fn utf8_with_bom_and_english_headers() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/bom.csv"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["imported"].as_u64(), s["held"].as_u64(), s["rejected"].as_u64()), (Some(3), Some(0), Some(0)));
    assert!(env.store().await.grant("2026B-0001").await.unwrap().is_some(), "the BOM is not part of the first header");
}

#[tokio::test]
async fn xlsx_numbers_dates_and_a_card_that_lost_digits() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/sample.xlsx"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["format"].as_str(), s["rows"].as_u64(), s["imported"].as_u64(), s["rejected"].as_u64()), (Some("xlsx"), Some(5), Some(4), Some(1)));
    let e = &s["errors"][0];
    assert_eq!((e["line"].as_u64(), e["column"].as_str()), (Some(6), Some("卡号")));
    let g = env.store().await.grant("2026X-0001").await.unwrap().unwrap();
    assert_eq!(g.notice_end, "2026-10-20", "a date cell read as a date");
    assert!([30_000, 40_000, 50_000].contains(&g.amount_fen), "a number cell read exactly: {}", g.amount_fen);
}

#[tokio::test]
async fn files_that_cannot_be_read_apply_nothing_and_say_why() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/bad-header.csv"), &[], 1);
    let error = s["error"].as_str().unwrap();
    assert!(error.contains("bad-header.csv") && error.contains("身份证号") && error.contains("卡号"), "{error}");

    let broken = env.path("broken.xlsx");
    std::fs::write(&broken, b"PK\x03\x04 this is not really a workbook").unwrap();
    let s = import_one(&env, &broken, &[], 1);
    assert!(s["error"].as_str().unwrap().contains("broken.xlsx"), "{s}");
    assert!(broken.exists(), "a file that cannot be read is kept");

    let missing = env.path("no-such-file.csv");
    let s = import_one(&env, &missing, &[], 1);
    assert!(s["error"].as_str().unwrap().contains("no-such-file.csv"), "{s}");

    assert!(env.store().await.count_grants_by_status().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_bad_file_does_not_stop_the_others() {
    let env = TestEnv::new().await;
    let bad = fixture("grants/bad-header.csv");
    let good = fixture("grants/bom.csv");
    let v = env.json(&["import", bad.to_str().unwrap(), good.to_str().unwrap()], 1);
    assert!(v["files"][0]["error"].is_string());
    assert_eq!(v["files"][1]["imported"], 3);
}

#[tokio::test]
async fn card_and_id_numbers_are_masked_in_the_work_list() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let out = env.cmd().args(["exceptions", "list"]).output().unwrap();
    let human = String::from_utf8_lossy(&out.stdout).to_string();
    let json = env.json(&["exceptions", "list"], 0).to_string();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let (id, card) = (cells[2], cells[13].replace(' ', ""));
        for shown in [&human, &json] {
            assert!(!shown.contains(id), "ID number {id} shown unmasked");
            if card.len() >= 16 {
                assert!(!shown.contains(&card), "card {card} shown unmasked");
            }
        }
    }
    assert!(human.contains("卡号无效") && human.contains("****"), "{human}");
}

#[tokio::test]
async fn a_large_list_is_streamed_in_chunks() {
    // Several chunks (1,000 rows each) in one file: the counts and duplicates span chunks.
    let env = TestEnv::new().await;
    let path = env.path("big.csv");
    let mut text = String::from("资助编号,姓名,身份证号,学校代码,学校名称,学段,年级,资助项目,资助档次,重点保障类别,学期,金额,持卡人,卡号,开户银行,公示截止日期\n");
    // Every student's own card (a card is one person's: a shared one would be held).
    let card = |i: u32| (0..10).map(|d| format!("621700{i:012}{d}")).find(|c| aidpay::domain::card::luhn_ok(c)).unwrap();
    for i in 0..2_500u32 {
        // every 1,000th student appears again later under another grant id: a duplicate in another chunk
        let student = if i >= 2_000 && i % 250 == 0 { i - 2_000 } else { i };
        let body = format!("130102200901{:02}{:03}", 1 + student % 28, student % 1000);
        let id = format!("{body}{}", aidpay::domain::id_number::check_char(&body).unwrap());
        text.push_str(&format!(
            "BIG-{i:05},学生{student},{id},1103001,区第一高级中学,高中,高一,国家助学金,一般困难,,2026秋,750,学生{student},{},中国银行,2026-10-20\n",
            card(i)
        ));
    }
    std::fs::write(&path, text).unwrap();
    let s = import_one(&env, &path, &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["rows"].as_u64(), s["imported"].as_u64(), s["held"].as_u64()), (Some(2_500), Some(2_500), Some(2)));
    let again = import_one(&env, &path, &[], 0);
    assert_eq!(again["unchanged"], 2_500);
}

/// Found by the csv_grants fuzzer (tests/fuzz/): a 9-character ID number made the masking of
/// the exception text underflow, so the reading thread panicked and the import failed. The row
/// is a held grant with an `invalid_id_number` exception, its number masked.
#[tokio::test]
async fn nine_character_id_number_is_held_not_a_crash() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/fuzz-csv-nine-char-id-number.csv"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["rows"].as_u64(), s["imported"].as_u64(), s["held"].as_u64()), (Some(1), Some(1), Some(1)));
    let list = env.json(&["exceptions", "list"], 0);
    let e = &list.as_array().unwrap()[0];
    assert_eq!(e["kind"], "invalid_id_number");
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("*********") && !detail.contains("130102200"), "{detail}");
}

/// Found by the csv_grants fuzzer (tests/fuzz/, a GBK list whose byte 0x80 reads as '€'): an
/// ID number of 18 characters with a character of several bytes among its first 17 was cut by
/// bytes inside that character, so the reading thread panicked and the import failed. The row
/// is a held grant with an `invalid_id_number` exception.
#[tokio::test]
async fn an_id_number_with_a_multibyte_character_is_held_not_a_crash() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/fuzz-csv-id-number-with-a-multibyte-character.csv"), &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["rows"].as_u64(), s["imported"].as_u64(), s["held"].as_u64()), (Some(1), Some(1), Some(1)));
    let list = env.json(&["exceptions", "list"], 0);
    let e = &list.as_array().unwrap()[0];
    assert_eq!(e["kind"], "invalid_id_number", "{e}");
}

/// Found by the xlsx_grants fuzzer (tests/fuzz/): calamine lays a sheet's used range out densely,
/// so one cell far from the others (a 6 KB file) asked for tens of gigabytes and aborted the
/// process ("memory allocation failed", exit 134), the daemon with it. Such a sheet is refused
/// with the reason, nothing applied, in bounded memory.
#[tokio::test]
async fn a_cell_far_outside_the_table_is_refused_not_an_abort() {
    let env = TestEnv::new().await;
    for (file, says) in [
        ("grants/fuzz-xlsx-cell-beyond-excel-rows.xlsx", "超出了 Excel 的"),
        ("grants/fuzz-xlsx-one-cell-spans-whole-sheet.xlsx", "1048576 行 × 16384 列"),
    ] {
        // 1 GiB of address space is plenty for a 6 KB file (the old reader asked for 51 GB).
        let out = env.cmd_with_memory_limit(1 << 20).args(["--json", "import"]).arg(fixture(file)).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{file}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let s: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let error = s["files"][0]["error"].as_str().unwrap_or_else(|| panic!("{file}: {s}"));
        assert!(error.contains(file.trim_start_matches("grants/")) && error.contains(says), "{error}");
    }
    assert!(env.store().await.count_grants_by_status().await.unwrap().is_empty());
}

/// Found by the csv_grants fuzzer (tests/fuzz/): an amount at the limit of an exact decimal
/// overflowed when turned into fen and panicked the reading thread. Now the file is read to its
/// end and no amount is taken that is not a sane one: the row is rejected (or held) with the
/// reason, never a crash.
#[tokio::test]
async fn an_amount_beyond_any_decimal_is_rejected_not_a_crash() {
    let env = TestEnv::new().await;
    let out = env.cmd().arg("--json").arg("import").arg(fixture("grants/fuzz-csv-amount-multiplication-overflow.csv")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["files"][0];
    if s["error"].is_null() {
        assert_counts_add_up(s);
    }
}

/// Issue 20: on PostgreSQL rows go in as one array per column (`unnest`); text that looks like
/// array syntax — quotes, a backslash, braces, a comma, the word NULL — is stored as it was
/// read, on both stores.
#[tokio::test]
async fn text_that_looks_like_array_syntax_is_stored_as_read() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/text-that-looks-like-array-syntax.csv"), &[], 0);
    assert_eq!((s["imported"].as_u64(), s["rejected"].as_u64()), (Some(2), Some(0)), "{s}");
    let store = env.store().await;
    let one = store.grant("2026T-0001").await.unwrap().unwrap();
    assert_eq!((one.school_name.as_str(), one.grade.as_str()), ("区第一\"高级\"中学{一,二}\\分校", "NULL"));
    let two = store.grant("2026T-0002").await.unwrap().unwrap();
    assert_eq!((two.school_name.as_str(), two.grade.as_str(), two.name.as_str()), ("区职业技术学校", "一年级 \"\\\"", "杨诗涵"));
}
